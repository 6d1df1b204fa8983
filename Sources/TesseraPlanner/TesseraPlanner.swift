// TesseraPlanner: memory and step-time models for training and serving, and the search over layouts.
