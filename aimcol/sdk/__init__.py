"""What users call: Run, Repo, Metric (Aim's ``aim.sdk`` layout, so ``aimcol.sdk.run.Run`` works)."""
