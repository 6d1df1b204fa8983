// The umbrella module: `import Tessera` brings every public target of the library into scope, so an
// embedding program needs one import and one product (`.product(name: "Tessera", package: "Tessera")`).
//
// The Open MPI backend is not re-exported: it is the one target that links libmpi, and a program that
// runs its ranks as threads should build and run on a machine without it. A program that launches
// under `mpirun` adds the `TesseraMPI` product and passes `MPILauncher()` where it picks a launcher.
@_exported import TesseraCollectives
@_exported import TesseraFormats
@_exported import TesseraModels
@_exported import TesseraNN
@_exported import TesseraParallel
@_exported import TesseraPipeline
@_exported import TesseraPlanner
@_exported import TesseraTensor
@_exported import TesseraTrain
