"""GradientFlowCallback reads each optimizer step's final gradients in the Hugging Face Trainer: against
autograd in float64 at the same weights (a tiny tied GPT-2 from a config, CPU, no download, report_to=[])."""

import copy

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from vanishing.integrations.transformers import GradientFlowCallback  # noqa: E402

pytestmark = pytest.mark.integrations

IDS = torch.tensor([3, 14, 15, 9, 2, 6, 5, 35, 8, 9, 7, 9])


class Same(torch.utils.data.Dataset):
    """One sequence, repeated: every batch, in any order, has the same loss."""

    def __len__(self):
        return 32

    def __getitem__(self, i):
        return {"input_ids": IDS, "labels": IDS}


class Reference(transformers.TrainerCallback):
    """Per-row ‖∂L/∂W‖ in float64 at the weights each optimizer step starts from."""

    def __init__(self, flow):
        self.flow, self.norms = flow, []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        ref = copy.deepcopy(model).double()
        ref(input_ids=IDS[None], labels=IDS[None]).loss.backward()
        rows = []
        for layer in self.flow.probe.layers:
            m = ref.get_submodule(layer.name)
            rows.append(sum(float(p.grad.pow(2).sum()) for n, p in m.named_parameters() if "bias" not in n) ** 0.5)
        total = sum(float(p.grad.pow(2).sum()) for p in ref.parameters()) ** 0.5  # tied weight once
        # the Trainer clipped to max_norm before this hook: clip_grad_norm_'s factor
        self.norms.append(np.array(rows) * min(1.0, args.max_grad_norm / (total + 1e-6)))


def test_trainer_callback_reads_final_gradients_logs_and_diagnoses(tmp_path, fp32_rtol):
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=2, n_head=2,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = transformers.GPT2LMHeadModel(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, gradient_accumulation_steps=2, max_steps=3,
        learning_rate=1e-3, max_grad_norm=1e-3, logging_steps=1, report_to=[], save_strategy="no", use_cpu=True,
        disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Same())
    flow = GradientFlowCallback.attach(trainer, every=1, report=True)
    ref = Reference(flow)
    trainer.add_callback(ref)
    trainer.train()
    t = flow.trace
    assert t.steps.tolist() == [0, 1, 2]
    # after accumulation, after the Trainer's clipping to 1e-3 (it clips before this hook)
    # float32 forward/backward through two blocks against float64: well within 1e-5 relative
    np.testing.assert_allclose(t["grad_norm"], np.array(ref.norms), rtol=1e-5)
    assert t["grad_norm"].max() < 1e-3
    logged = [h for h in trainer.state.log_history if any(k.startswith("gradient_flow/") for k in h)]
    assert len(logged) == 3 and "gradient_flow/grad_norm/lm_head" in logged[0]
    assert np.isfinite(t.scalars["loss"]).all()
    assert flow.diagnosis is not None and (tmp_path / "vanishing" / "report.html").exists()
    assert any(f.kind == "tied_weights" for f in flow.diagnosis.findings)
