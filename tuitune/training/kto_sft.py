"""KTO with an SFT term on the good answers, as trl's DPO has with `loss_type=["sigmoid", "sft"]` (RPO).

Measured (bench/effect.py --only thumbs, 25 good and 8 bad sample answers, no pairs): plain KTO raised the good
answers' summed log-ratio to ~50 nats over the reference, spread over their content tokens, and moved the held-out
TL;DR rate 0.00 -> 0.00; APO-zero did the same. The mean token NLL of the good answers keeps every token's
probability in the loss, the first one (where the form is decided) included: weight 1 moved it to 0.29, weight 3
(the default, `train.kto_loss = "kto,sft:3"`) to 0.96 with the check questions at 0.53 -> 0.63, in 120 s. It reuses
the policy forward trl already makes: a hook keeps that forward's per-token log-probs.
"""

from __future__ import annotations

from typing import Any


def with_sft_term(trainer_class: type, weight: float) -> type:
    """`trainer_class` (a trl KTOTrainer) whose loss adds `weight` x the mean NLL of the good answers' tokens."""
    import torch

    class KTOWithSFT(trainer_class):
        def _compute_loss(self, model, inputs, return_outputs):
            kept: list[Any] = []

            def keep(module, args, output):
                if torch.is_grad_enabled():  # the policy forward; the KL and reference ones run without grad
                    kept.append(output)

            hook = self.accelerator.unwrap_model(model).register_forward_hook(keep)
            try:
                result = super()._compute_loss(model, inputs, return_outputs)
            finally:
                hook.remove()
            loss, extra = (result[0], result[1:]) if return_outputs else (result, ())
            good = torch.as_tensor(inputs["label"], dtype=torch.bool, device=loss.device)
            if kept and good.any() and weight:
                mask = inputs["completion_mask"][:, 1:].to(loss.device).bool()
                logps = kept[-1].log_probs[:, -mask.size(1) :]
                nll = -logps[good][mask[good]].mean()
                loss = loss + weight * nll
                self._metrics["train" if self.model.training else "eval"]["sft_loss"].append(nll.item())
            return (loss, *extra) if return_outputs else loss

    KTOWithSFT.__name__ = KTOWithSFT.__qualname__ = f"{trainer_class.__name__}WithSFT"
    return KTOWithSFT
