import pytest

from lightning_pse.output.wandb_logger import WandbLogger, wandb_configured


@pytest.fixture
def no_wandb_env(monkeypatch, tmp_path):
    for key in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    return tmp_path


def test_configured_by_key_or_netrc(no_wandb_env, monkeypatch):
    assert not wandb_configured()
    (no_wandb_env / "netrc").write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    assert wandb_configured()
    (no_wandb_env / "netrc").unlink()
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_configured()


def test_offline_without_credentials(no_wandb_env):
    logger = WandbLogger(save_dir=str(no_wandb_env))
    assert logger._offline and logger._wandb_init["mode"] == "offline"


def test_unreachable_server_falls_back_to_offline(no_wandb_env, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    calls = []

    def fake_init(**kwargs):
        calls.append(kwargs.get("mode"))
        if kwargs.get("mode") != "offline":
            raise ConnectionError("api.wandb.ai unreachable")
        return None  # stands for the offline run object

    monkeypatch.setattr(wandb, "init", fake_init)
    logger = WandbLogger(save_dir=str(no_wandb_env))
    assert not logger._offline
    with pytest.warns(UserWarning, match="offline"):
        logger.experiment
    assert calls == [None, "offline"] and logger._offline
