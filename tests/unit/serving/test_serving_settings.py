"""Settings: defaults < YAML file < environment; bad values name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.settings import SettingsError, load_settings


def test_defaults_put_the_key_store_under_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"SPM_DATA_DIR": str(tmp_path)})
    assert (
        settings.resolved_key_store_url
        == f"sqlite:///{tmp_path.resolve() / 'serving' / 'api_keys.sqlite'}"
    )
    assert settings.resolved_canonical_store == str(tmp_path.resolve())
    assert settings.model_alias == "champion" and settings.required_models == ()


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "serving.yaml"
    config.write_text(
        "max_request_bytes: 1000\nmodel_alias: challenger\nrequired_models: [deal_risk]\n"
    )
    settings = load_settings(
        {"SPM_SERVING_CONFIG": str(config), "SPM_SERVING_MAX_REQUEST_BYTES": "2048"}
    )
    assert settings.max_request_bytes == 2048
    assert settings.model_alias == "challenger"
    assert settings.required_models == ("deal_risk",)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SPM_SERVING_MAX_ROWS": "many"}, "max_rows"),
        ({"SPM_SERVING_MAX_REQUEST_BYTES": "-1"}, "max_request_bytes"),
        ({"SPM_SERVING_REQUIRED_MODELS": "nope"}, "required_models"),
    ],
)
def test_bad_values_name_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ)


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "serving.yaml"
    config.write_text("max_request_byte: 10\n")
    with pytest.raises(SettingsError, match="max_request_byte"):
        load_settings({}, config)
