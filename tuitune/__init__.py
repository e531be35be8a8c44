"""tuitune: chat with a 4-bit model, judge its answers, train a LoRA adapter on them, swap it in place."""

__version__ = "0.1.0"
