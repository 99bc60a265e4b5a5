"""Importers behind ``aimcol convert``: TensorBoard event files, MLflow tracking stores, Aim
repositories.  Each reads its source and writes through the public SDK's bulk path
(``Run.track_array``); like the CLI, they never reach below ``aimcol.sdk``."""
