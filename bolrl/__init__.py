"""bolrl: batch online reinforcement learning ablation studies in MuJoCo."""

__version__ = "0.1.0"
