"""wizardmath: RLEIF (Reinforcement Learning from Evol-Instruct Feedback) for math reasoning.

Stages, each one public entry point, called by the ``wizardmath`` CLI and from Python:

- ``wizardmath.evol.evolve`` / ``wizardmath.evol.solve``: Math Evol-Instruct and teacher solutions
- ``wizardmath.train.sft.train_sft``: supervised fine-tuning (TRL ``SFTTrainer``)
- ``reward_models``: Instruction and Process-supervised reward models
- ``wizardmath.train.ppo.train_ppo``: PPO with the RLEIF reward
- ``wizardmath.eval.evaluate``: GSM8k / MATH evaluation
- ``wizardmath.verify``: answer extraction and sympy-checked equivalence (no torch)
"""

__version__ = "0.1.0"
