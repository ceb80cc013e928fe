"""Changes to the set of voices and their folders, as the CLI's setup commands make them."""

from __future__ import annotations

from pathlib import Path

from voiced.config import Config, ConfigError, VoiceConfig, check_voice_name, load_config, save_config
from voiced.paths import Paths, get_paths

DEFAULT_VOICE = "default"


def init_config(paths: Paths | None = None, *, voice: str = DEFAULT_VOICE) -> tuple[Path, bool]:
    """Create the config file with one voice; returns (path, created). Never overwrites."""
    paths = paths or get_paths()
    if paths.config_file.exists():
        load_config(paths)  # still validate it, so `voiced init` reports a broken file
        return paths.config_file, False
    check_voice_name(voice)
    config = Config(voices={voice: VoiceConfig(name=voice)})
    return save_config(config, paths), True


def _folder_key(folder: str | Path) -> Path:
    return Path(folder).expanduser().resolve()


def add_folder(folder: str | Path, voice: str | None = None, paths: Paths | None = None) -> tuple[VoiceConfig, Path]:
    """Add a writing folder to a voice (the only/first voice when none is named)."""
    config = load_config(paths)
    target = _folder_key(folder)
    if not target.is_dir():
        raise ConfigError(f"{target} is not a folder.", fix="Give the folder you write in, e.g. `voiced add ~/Notes`.")
    chosen = config.voice(voice)
    for other in config.voices.values():
        for existing in other.folders:
            known = _folder_key(existing)
            if known == target:
                raise ConfigError(
                    f"{target} is already a folder of voice {other.name!r}.",
                    fix="Nothing to do; `voiced voices` lists every folder.",
                )
            if target.is_relative_to(known) or known.is_relative_to(target):
                raise ConfigError(
                    f"{target} overlaps {known}, a folder of voice {other.name!r}.",
                    fix="A file belongs to one voice: remove one of them with `voiced remove`, "
                    "or exclude the subfolder with an `exclude` glob.",
                )
    chosen.folders.append(str(target))
    save_config(config, paths)
    return chosen, target


def remove_folder(folder: str | Path, paths: Paths | None = None) -> tuple[VoiceConfig, Path]:
    """Remove a writing folder from whichever voice has it."""
    config = load_config(paths)
    target = _folder_key(folder)
    for voice in config.voices.values():
        for existing in list(voice.folders):
            if _folder_key(existing) == target:
                voice.folders.remove(existing)
                save_config(config, paths)
                return voice, target
    raise ConfigError(f"{target} is not a folder of any voice.", fix="`voiced voices` lists the folders.")


def create_voice(
    name: str, *, system_prompt: str | None = None, base_model: str | None = None, paths: Paths | None = None
) -> VoiceConfig:
    """Add a new, empty voice."""
    check_voice_name(name)
    config = load_config(paths)
    if name in config.voices:
        raise ConfigError(f"The voice {name!r} exists already.", fix="Pick another name, or use it as it is.")
    voice = VoiceConfig(name=name)
    if system_prompt is not None:
        voice.system_prompt = system_prompt
    if base_model is not None:
        voice.base_model = base_model
    config.voices[name] = voice
    save_config(config, paths)
    return voice
