"""MART's loss and AWP's weight perturbation against direct computations, and both training."""

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from pytorch_lightning.strategies import DDPStrategy

from lightning_pse.checkpoints import load_module, read_checkpoint
from lightning_pse.data import SyntheticDataModule
from lightning_pse.errors import UserInputError
from lightning_pse.training import AWPModule, MARTModule, TRADESAWPModule
from lightning_pse.training.awp import perturbed_weights, weight_perturbation

from helpers import TINY, call_train, loss_and_reference, quiet_trainer


def mart_by_hand(clean, adv, y, beta):
    """MART's loss written per sample from the paper's formula."""
    total = 0.0
    for i in range(len(y)):
        p, q, t = clean[i].softmax(0), adv[i].softmax(0), int(y[i])
        runner_up = max(float(q[j].detach()) for j in range(len(q)) if j != t)
        boosted = -torch.log(q[t]) - torch.log(torch.tensor(1 - runner_up))
        kl = sum(float(p[j]) * (torch.log(p[j]) - torch.log(q[j])) for j in range(len(p)))
        total += boosted + beta * kl * (1 - p[t])
    return total / len(y)


def test_mart_loss_is_boosted_cross_entropy_plus_misclassification_weighted_kl(like_trained, batch):
    x, y = batch
    module = like_trained(MARTModule, beta=6.0, steps=3)
    loss, logits, clean, adv = loss_and_reference(module, x, y)
    assert loss.item() == pytest.approx(float(mart_by_hand(clean.detach(), adv.detach(), y, 6.0)), rel=1e-4)
    assert torch.allclose(logits, adv), "train/acc is measured on the adversarial batch"
    plain = like_trained(MARTModule, beta=0.0, steps=3)
    torch.manual_seed(0)
    assert plain.training_loss(x, y)[0].item() == pytest.approx(
        float(mart_by_hand(clean.detach(), adv.detach(), y, 0.0)), rel=1e-4
    )


def test_awp_perturbation_is_the_references_normalised_proxy_step(trained_module, batch):
    """The reference finds v with a proxy copy: one SGD step on −L, then each weight's change scaled
    to γ·‖w‖; ours takes the gradient directly. They must agree."""
    x, y = batch
    model = copy.deepcopy(trained_module.model).train()
    x_adv = (x + 0.03 * torch.randn_like(x)).clamp(0, 1)
    gamma = 0.01
    offsets = weight_perturbation(model, lambda: F.cross_entropy(model(x_adv), y), gamma)
    proxy = copy.deepcopy(trained_module.model).train()
    optimizer = torch.optim.SGD(proxy.parameters(), lr=1.0)  # the scale drops out; a large step keeps w + Δ − w exact
    optimizer.zero_grad()
    (-F.cross_entropy(proxy(x_adv), y)).backward()
    optimizer.step()
    expected = []
    for w, moved in zip(trained_module.model.parameters(), proxy.parameters()):
        if w.dim() < 2:
            continue
        diff = moved.detach() - w.detach()
        expected.append(gamma * w.detach().norm() * diff / diff.norm())
    assert len(offsets) == len(expected) == len(perturbed_weights(model)) > 0
    for ours, theirs in zip(offsets, expected):
        assert (ours - theirs).norm() <= 1e-4 * theirs.norm() and ours.norm() > 0
    assert all(p.grad is None for p in model.parameters()), "no .grad is filled"


def test_awp_takes_the_gradient_at_perturbed_weights_and_restores_them(like_trained, batch):
    x, y = batch
    module = like_trained(AWPModule, awp_gamma=0.02, steps=2)
    twin = copy.deepcopy(module)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    torch.manual_seed(0)
    loss, _ = module.training_loss(x, y)
    loss.backward()
    module.on_after_backward()
    after = module.state_dict()
    for key, value in before.items():
        if "running" in key or "num_batches" in key:
            continue
        assert torch.equal(after[key], value), f"{key} restored exactly"
    # By hand: the same attack, v from the loss at w, then the gradient of the loss at w + v.
    torch.manual_seed(0)
    x_adv = twin.attack(twin.model, x, y)
    probe = copy.deepcopy(twin)
    offsets = weight_perturbation(probe.model, lambda: F.cross_entropy(probe(x_adv), y), 0.02)
    with torch.no_grad():
        for w, v in zip(perturbed_weights(twin.model), offsets):
            w.add_(v)
    expected = F.cross_entropy(twin(x_adv), y)
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    for (name, ours), theirs in zip(module.named_parameters(), twin.parameters()):
        assert torch.allclose(ours.grad, theirs.grad, rtol=1e-4, atol=1e-7), name
    # BatchNorm learnt from the one training forward only (the proxy forward kept nothing).
    for key in after:
        if "running_mean" in key:
            assert torch.allclose(after[key], twin.state_dict()[key]), key
    plain = copy.deepcopy(twin)
    with torch.no_grad():
        for w, saved in zip(perturbed_weights(plain.model), perturbed_weights(module.model)):
            w.copy_(saved)
    assert F.cross_entropy(plain(x_adv), y) < expected, "the perturbation raised the loss"


def test_awp_waits_for_its_warmup(like_trained, batch):
    x, y = batch
    module = like_trained(AWPModule, awp_gamma=0.02, awp_warmup=1, steps=2)
    torch.manual_seed(0)
    module.training_loss(x, y)
    assert module._saved_weights is None, "epoch 0 < warmup: no perturbation"


def _awp_module(state_path: str) -> AWPModule:
    """An AT-AWP module with the saved weights, in eval mode: its forward, and so each sample's loss,
    does not depend on which other samples share the batch (train-mode BatchNorm would)."""
    module = AWPModule(model="small_cnn", num_classes=10, awp_gamma=0.02, eps=8 / 255, steps=2, random_start=False)
    module.load_state_dict(torch.load(state_path, weights_only=True))
    return module.eval()


def _perturb_on_rank(rank: int, world_size: int, root: str) -> None:
    """One DDP process (gloo) with a Lightning DDP strategy: AWP's step on this rank's share of the
    batch, the perturbed weights written to ``rank<r>.pt``."""
    dist.init_process_group("gloo", init_method=f"file://{root}/rendezvous", rank=rank, world_size=world_size)
    try:
        module = _awp_module(f"{root}/state.pt")
        module.trainer = SimpleNamespace(strategy=DDPStrategy(), current_epoch=0)
        x, y = torch.load(f"{root}/batch.pt", weights_only=True)
        share = len(y) // world_size
        module.training_loss(x[rank * share : (rank + 1) * share], y[rank * share : (rank + 1) * share])
        torch.save([w.detach() for w in perturbed_weights(module.model)], f"{root}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_awp_on_two_processes_perturbs_as_one_process_on_the_whole_batch(trained_module, batch, tmp_path):
    """Each process holds half the batch; the weights both perturb to are those one process reaches
    on the whole batch (the mean of the halves' gradients is the whole batch's gradient)."""
    torch.save(trained_module.state_dict(), tmp_path / "state.pt")
    torch.save(batch, tmp_path / "batch.pt")
    mp.spawn(_perturb_on_rank, args=(2, str(tmp_path)), nprocs=2)
    single = _awp_module(str(tmp_path / "state.pt"))
    single.training_loss(*batch)
    expected = [w.detach() for w in perturbed_weights(single.model)]
    start = perturbed_weights(_awp_module(str(tmp_path / "state.pt")).model)
    for rank in range(2):
        perturbed = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert len(perturbed) == len(expected) > 0
        for ours, theirs, w in zip(perturbed, expected, start):
            assert not torch.equal(theirs, w.detach()), "the weights moved"
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "config, cls", [("synthetic_mart", MARTModule), ("synthetic_awp", AWPModule)], ids=["mart", "awp"]
)
def test_mart_and_awp_train_from_their_configs(tmp_path, config, cls):
    result = call_train(
        "fit",
        "--config",
        config,
        *TINY,
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=1",
        "--trainer.callbacks=[{class_path: pytorch_lightning.callbacks.ModelCheckpoint, init_args: {filename: last}}]",
        "--trainer.logger=false",
        "--trainer.default_root_dir",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    module = load_module(checkpoint)
    assert type(module) is cls and checkpoint["global_step"] == 2
    assert all(torch.isfinite(p).all() for p in module.parameters())
    start = cls(**{k: v for k, v in module.hparams.items() if not k.startswith("_")})
    assert any(not torch.equal(a, b) for a, b in zip(start.parameters(), module.parameters())), "it trained"


def test_trades_awp_trains_and_leaves_no_perturbation_behind():
    data = SyntheticDataModule(num_train=128, num_val=64, num_test=32, batch_size=64)
    module = TRADESAWPModule(model="small_cnn", num_classes=10, scheduler="none", lr=0.05, steps=2)
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1)
    trainer.fit(module, datamodule=data)
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert module._saved_weights is None, "restored after the last step"


@pytest.mark.parametrize("cls, knob", [(MARTModule, "beta"), (AWPModule, "awp_gamma"), (TRADESAWPModule, "awp_warmup")])
def test_mart_and_awp_refuse_bad_knobs(cls, knob):
    with pytest.raises(UserInputError, match=knob):
        cls(**{knob: -1})
