// Metrics module: Offline evaluation metrics (AUC, log loss, NE, calibration, reliability) and reports.
// Scaffolding: the stage owner replaces this file.
