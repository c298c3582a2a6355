"""RLEIF reward models: the Instruction Reward Model (IRM) and the Process-supervised Reward Model (PRM)."""
