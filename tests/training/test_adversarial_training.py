"""Adversarial training mechanics: PGD-AT, fast AT, TRADES, PSE-AT, and the robust evaluation callback."""

import copy
import math

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import ModelCheckpoint

from lightning_pse.attacks import PGD, SteeredPGD, TRADESAttack
from lightning_pse.callbacks import RobustEvalCallback
from lightning_pse.checkpoints import read_checkpoint
from lightning_pse.data import SyntheticDataModule
from lightning_pse.errors import UserInputError
from lightning_pse.pse import PSEShares, UnitSensitivity, analyze_attack, unit_effects
from lightning_pse.training import FastATModule, PGDATModule, PSEATModule, TRADESModule
from lightning_pse.training.pse_at import steered_weights, top_units_mask, unit_penalty

from helpers import loss_and_reference, quiet_trainer


def batch_norm_buffers(module):
    return {k: v.clone() for k, v in module.state_dict().items() if "running" in k or "num_batches" in k}


def test_pgd_at_loss_is_cross_entropy_on_the_attack_output_in_train_mode(like_trained, batch):
    x, y = batch
    module = like_trained(PGDATModule, steps=3)
    twin = copy.deepcopy(module)
    modes = []
    module.model.register_forward_pre_hook(lambda m, inputs: modes.append(m.training))
    torch.manual_seed(0)
    loss, logits = module.training_loss(x, y)
    assert modes == [False] * 3 + [True], "attack steps in eval mode, the loss forward in train mode"
    assert module.training and all(m.training for m in module.modules())
    # The same attack by hand: it does not touch BatchNorm statistics ...
    before = batch_norm_buffers(twin)
    torch.manual_seed(0)
    x_adv = twin.attack(twin.model, x, y)
    assert all(torch.equal(before[k], v) for k, v in batch_norm_buffers(twin).items())
    assert (x_adv - x).abs().max() <= 8 / 255 + 1e-6 and not torch.equal(x_adv, x)
    # ... and the training forward on x_adv is the only update of the statistics.
    expected = F.cross_entropy(twin(x_adv), y)
    assert torch.equal(loss, expected)
    after, twin_after = batch_norm_buffers(module), batch_norm_buffers(twin)
    assert all(torch.equal(after[k], twin_after[k]) for k in after)
    assert any(not torch.equal(after[k], before[k]) for k in after if "running_mean" in k)
    with torch.no_grad():
        clean_loss = F.cross_entropy(copy.deepcopy(twin).eval()(x), y)
    assert loss > clean_loss, "the adversarial loss exceeds the clean one"
    assert all(p.grad is None for p in module.parameters()), "the attack leaves parameter gradients alone"


def test_fast_at_is_one_fgsm_step_from_a_random_start(like_trained):
    attack = like_trained(FastATModule).attack
    assert isinstance(attack, PGD) and attack.steps == 1 and attack.random_start
    assert attack.step_size == pytest.approx(1.25 * attack.eps)


def test_trades_loss_is_clean_cross_entropy_plus_beta_kl(like_trained, batch):
    x, y = batch
    module = like_trained(TRADESModule, beta=6.0, steps=3)
    loss, logits, clean, adv = loss_and_reference(module, x, y)
    kl = F.kl_div(F.log_softmax(adv, 1), F.softmax(clean, 1), reduction="sum") / x.shape[0]
    assert loss.item() == pytest.approx((F.cross_entropy(clean, y) + 6.0 * kl).item(), rel=1e-5)
    assert torch.equal(logits.argmax(1), clean.argmax(1)), "train/acc is measured on the clean batch"


def test_trades_attack_increases_the_kl_inside_the_ball(trained_module, batch):
    x, y = batch
    model = trained_module.model
    x_adv = TRADESAttack(eps=8 / 255, steps=5, step_size=2 / 255, seed=0)(model, x, y)
    with torch.no_grad():
        p, q = F.log_softmax(model(x), 1), F.log_softmax(model(x_adv), 1)
        kl = F.kl_div(q, p, log_target=True, reduction="none").sum(1)
    assert (x_adv - x).abs().max() <= 8 / 255 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert kl.mean() > 1e-3


def tiny_fit(module, data, epochs=1, callbacks=(), **trainer_kwargs):
    pl.seed_everything(0)
    trainer_kwargs.setdefault("enable_checkpointing", False)
    trainer = quiet_trainer(max_epochs=epochs, callbacks=list(callbacks), **trainer_kwargs)
    trainer.fit(module, datamodule=data)
    return trainer


TINY = dict(num_train=128, num_val=64, num_test=32, batch_size=64)
ARCH = dict(model="small_cnn", num_classes=10, scheduler="none", lr=0.05, eps=8 / 255, steps=2, step_size=4 / 255)


@pytest.mark.slow
def test_pse_at_with_zero_weights_is_pgd_at_exactly():
    data = SyntheticDataModule(**TINY)
    pl.seed_everything(0)
    pse = PSEATModule(steer=0.0, unit_penalty=0.0, **ARCH)
    pgd = PGDATModule(attack_loss="cw", **ARCH)
    pgd.load_state_dict(pse.state_dict(), strict=False)
    tiny_fit(pse, data)
    tiny_fit(pgd, data)
    for (name, a), b in zip(pse.model.state_dict().items(), pgd.model.state_dict().values()):
        assert torch.equal(a, b), name
    start = PSEATModule(steer=0.0, unit_penalty=0.0, **ARCH)
    changed = any(not torch.equal(a, b) for a, b in zip(start.parameters(), pse.parameters()))
    assert changed, "the comparison is between trained models"


def reference_measurement(model, data, samples=32, batch_size=16, reference=None):
    """What PSE-AT should measure at an epoch's start, computed here: the PSE energies ``(E_s, E_p)``
    and unit sensitivities of ``reference`` (default the unsteered margin PGD, seed 0) on the
    training probe."""
    probe = data.probe_set(samples, "train", 0)
    x = torch.stack([probe[i]["image"] for i in range(samples)])
    y = torch.tensor([int(probe[i]["label"]) for i in range(samples)])
    reference = reference or PGD(eps=8 / 255, steps=ARCH["steps"], step_size=ARCH["step_size"], loss="cw", seed=0)
    shares, sensitivity = PSEShares(), None
    for start in range(0, samples, batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        attacked, pse = analyze_attack(model, reference, xb, yb, estimator="gradient", group_size=None)
        if pse is not None:
            shares.update(pse)
        effects = unit_effects(model, None, xb, attacked.x_adv)
        sensitivity = sensitivity or UnitSensitivity(effects.clean.shape[0])
        sensitivity.update(effects)
    values = shares.compute()
    return torch.stack([values["suppression_energy"], values["promotion_energy"]]).float(), sensitivity.compute()


@pytest.mark.slow
def test_pse_at_steers_by_the_reference_attack_and_ranks_its_units(tmp_path):
    data = SyntheticDataModule(**TINY)
    data.setup()
    pl.seed_everything(0)
    module = PSEATModule(steer=0.5, unit_penalty=0.1, probe_samples=32, probe_batch_size=16, **ARCH)
    initial = copy.deepcopy(module.model)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, filename="last")
    trainer = quiet_trainer(max_epochs=1, callbacks=[checkpoint])
    trainer.fit(module, datamodule=data)
    energy, sensitivity = reference_measurement(initial, data)
    expected = 0.5 + 0.5 * 2 * energy / energy.sum()
    assert torch.allclose(module.margin_weights, expected, atol=1e-5), (module.margin_weights, expected)
    k = math.ceil(0.05 * sensitivity.numel())
    assert torch.equal(module.unit_mask.nonzero().squeeze(1).sort().values, sensitivity.topk(k).indices.sort().values)
    logged = trainer.callback_metrics
    assert logged["pse_at/reference_suppression_share"].item() == pytest.approx((energy[0] / energy.sum()).item())
    # The steered attack's shares: measured with the weights the epoch trained with ((1, 1) in the
    # first epoch) and seeded like the reference, so the measurement draws nothing from the global
    # generator (unseeded, its random starts would differ from this independent computation).
    steered = SteeredPGD(eps=8 / 255, steps=ARCH["steps"], step_size=ARCH["step_size"], seed=0)
    steered_energy, _ = reference_measurement(initial, data, reference=steered)
    expected_share = (steered_energy[0] / steered_energy.sum()).item()
    assert logged["pse_at/steered_suppression_share"].item() == pytest.approx(expected_share)
    state = torch.load(tmp_path / "last.ckpt", weights_only=True)["state_dict"]
    assert torch.equal(state["margin_weights"], module.margin_weights)
    resumed = PSEATModule.load_from_checkpoint(tmp_path / "last.ckpt", weights_only=True)
    assert torch.equal(resumed.margin_weights, module.margin_weights)
    assert torch.equal(resumed.unit_mask, module.unit_mask)


def test_different_shares_give_different_weights():
    suppression_heavy = steered_weights(torch.tensor([3.0, 1.0]), 0.5, torch.ones(2))
    promotion_heavy = steered_weights(torch.tensor([1.0, 3.0]), 0.5, torch.ones(2))
    assert torch.allclose(suppression_heavy, torch.tensor([1.25, 0.75]))
    assert torch.allclose(promotion_heavy, torch.tensor([0.75, 1.25]))
    assert torch.equal(steered_weights(torch.zeros(2), 0.5, promotion_heavy), promotion_heavy)  # nothing fooled


def test_unit_penalty_value_and_gradient_equal_a_direct_computation():
    torch.manual_seed(0)
    adversarial, clean = torch.randn(4, 6, requires_grad=True), torch.randn(4, 6)
    mask = torch.tensor([1.0, 0, 1, 0, 0, 1])
    value = unit_penalty(adversarial, clean, mask)
    value.backward()
    direct = sum(abs(adversarial[b, k] - clean[b, k]) for b in range(4) for k in (0, 2, 5)) / (4 * 3)
    assert value.item() == pytest.approx(direct.item())
    expected_grad = torch.sign(adversarial.detach() - clean) * mask / (4 * 3)
    assert torch.allclose(adversarial.grad, expected_grad)
    top = top_units_mask(torch.tensor([0.1, 0.9, 0.5, 0.7]), 0.5)
    assert torch.equal(top, torch.tensor([0.0, 1, 0, 1]))


@pytest.mark.slow
def test_pse_at_batchnorm_learns_from_the_adversarial_batch_only():
    """PSE-AT's clean reference forward leaves BatchNorm's running statistics alone: after one step
    they equal PGD-AT (C&W)'s, whose only train-mode forward is the adversarial batch."""
    data = SyntheticDataModule(**TINY)
    pl.seed_everything(0)
    pse = PSEATModule(steer=0.0, unit_penalty=0.1, probe_samples=16, probe_batch_size=16, **ARCH)
    pgd = PGDATModule(attack_loss="cw", **ARCH)
    pgd.load_state_dict(pse.state_dict(), strict=False)
    tiny_fit(pse, data, max_steps=1, limit_val_batches=0)
    tiny_fit(pgd, data, max_steps=1, limit_val_batches=0)
    ours, theirs = batch_norm_buffers(pse), batch_norm_buffers(pgd)
    assert ours and all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_pse_at_refuses_bad_knobs():
    with pytest.raises(UserInputError, match="attack_loss must be 'cw'"):
        PSEATModule(attack_loss="ce")
    with pytest.raises(UserInputError, match="steer"):
        PSEATModule(steer=2.0)


def test_robust_eval_logs_accuracy_under_attack_and_drives_checkpointing(trained_module, synthetic_data, tmp_path):
    attack = PGD(eps=8 / 255, steps=5, seed=0)
    callback = RobustEvalCallback(attack=attack, num_samples=64, batch_size=64)
    metrics = quiet_trainer(callbacks=[callback]).validate(trained_module, datamodule=synthetic_data, verbose=False)[0]
    probe = synthetic_data.probe_set(64)
    x = torch.stack([probe[i]["image"] for i in range(64)])
    y = torch.tensor([probe[i]["label"] for i in range(64)])
    model = trained_module.model
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    fooled = attack.run(model, x[correct], y[correct]).success
    assert metrics["val/probe_clean_acc"] == pytest.approx(correct.float().mean().item())
    assert metrics["val/robust_acc"] == pytest.approx((~fooled).sum().item() / 64)
    assert metrics["val/robust_acc"] < metrics["val/probe_clean_acc"]


@pytest.mark.slow
def test_checkpoint_selection_can_monitor_robust_accuracy(tmp_path):
    data = SyntheticDataModule(**TINY)
    module = PGDATModule(**ARCH)
    best = ModelCheckpoint(dirpath=tmp_path, monitor="val/robust_acc", mode="max", save_top_k=1)
    robust = RobustEvalCallback(attack=PGD(steps=2, seed=0), num_samples=32, batch_size=32)

    class Record(pl.Callback):
        values = []

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                self.values.append(trainer.callback_metrics["val/robust_acc"].item())

    record = Record()
    tiny_fit(module, data, epochs=3, callbacks=[robust, record, best], enable_checkpointing=True)
    assert len(record.values) == 3
    assert best.best_model_score.item() == pytest.approx(max(record.values))
    assert f"epoch={record.values.index(max(record.values))}" in best.best_model_path


class MNISTLikeSynthetic(SyntheticDataModule):
    """The synthetic benchmark under MNIST's standard radius (ℓ∞ 0.3), so the data decides ε."""

    stats_key = "mnist"


@pytest.mark.parametrize(
    "cls, steps, step",
    [(PGDATModule, 3, 2.5 * 0.3 / 3), (FastATModule, 1, 1.25 * 0.3), (TRADESModule, 5, 2.5 * 0.3 / 5)],
)
def test_without_eps_a_module_trains_at_the_datas_standard_radius(cls, steps, step, tmp_path):
    """``eps`` None: the radius is the data's standard one (MNIST's 0.3 here, not CIFAR's 8/255),
    resolved when the Trainer's data module is known and written into the hyper-parameters that
    the checkpoint records; the step follows it (``2.5·ε/steps``, FGSM-RS's ``1.25·ε``). A module
    used without a Trainer must be given ε."""
    data = MNISTLikeSynthetic(num_train=16, num_val=8, num_test=8, batch_size=8, image_size=16)
    module = cls(model="small_cnn", num_classes=data.num_classes, steps=steps)
    assert module.attack is None and module.hparams.eps is None
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=1)
    trainer.fit(module, datamodule=data)
    assert module.hparams.eps == pytest.approx(0.3) and module.attack.eps == pytest.approx(0.3)
    assert module.attack.step_size == pytest.approx(step)
    trainer.save_checkpoint(tmp_path / "x.ckpt")
    assert read_checkpoint(tmp_path / "x.ckpt")["hyper_parameters"]["eps"] == pytest.approx(0.3)
    with pytest.raises(UserInputError, match="pass the data module"):
        cls(model="small_cnn").setup("fit")
