// TesseraPipeline: pipeline schedules as data (a list of actions per rank), invariants checked on the
// data alone, a simulator that times any schedule, and timeline pictures. Pure: no tensors, no communication.
