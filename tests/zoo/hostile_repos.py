"""Hostile model repositories, built from tiny clean ones, for the loading-safety tests.

Each builder changes a copy of a clean model folder the way an attacker would and returns the
regex the one-line refusal must match. Builders that plant code or pickles write them so that
running or unpickling them would create ``MARKER`` in the folder: the tests assert it is absent.
Used by test_hostile_torch.py (local folders, CLI), test_hostile_hub.py (the same repositories
served by a real ``zoolab hub serve``) and test_scan.py.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Callable

MARKER = "PWNED"


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def _write_config(folder: Path, config: dict) -> None:
    (folder / "config.json").write_text(json.dumps(config))


def evil_pickle(path: Path, marker: Path) -> Path:
    """A pickle that creates ``marker`` when unpickled without weights_only."""
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path.write_bytes(pickle.dumps(Evil()))
    return path


def evil_module(path: Path, marker: Path) -> Path:
    """A Python file that creates ``marker`` when imported."""
    path.write_text(f"open({str(marker)!r}, 'w').write('ran')\nclass Evil:\n    pass\n")
    return path


# --- weights ------------------------------------------------------------------------------------
def shards_to_pickle(folder: Path) -> str:
    """model.safetensors.index.json whose shard is a torch.save file named weights.data."""
    import torch
    from safetensors.torch import load_file

    state = load_file(folder / "model.safetensors")
    torch.save(state, folder / "weights.data")
    (folder / "model.safetensors").unlink()
    index = {"metadata": {}, "weight_map": {key: "weights.data" for key in state}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return r"reads tensor .* from 'weights.data', which is not a \.safetensors file"


def transformers_weights_bin(folder: Path) -> str:
    """config.json transformers_weights pointing at a pickled adapter_model.bin."""
    evil_pickle(folder / "adapter_model.bin", folder / MARKER)
    config = _config(folder)
    config["transformers_weights"] = "adapter_model.bin"
    _write_config(folder, config)
    return r"transformers_weights: 'adapter_model.bin'"


def shard_outside(folder: Path, outside: Path) -> str:
    """An index whose shards are a path with '..' to a file outside the folder."""
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "model.safetensors")
    save_file(state, outside / "stolen.safetensors")
    (folder / "model.safetensors").unlink()
    rel = "../" * (len(folder.parts)) + str(outside / "stolen.safetensors").lstrip("/")
    index = {"metadata": {}, "weight_map": {key: rel for key in state}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return r"a path outside the repository"


def shard_absolute(folder: Path, outside: Path) -> str:
    shard_outside(folder, outside)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    index["weight_map"] = {k: str(outside / "stolen.safetensors") for k in index["weight_map"]}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return r"a path outside the repository"


def pickles_beside_safetensors(folder: Path) -> None:
    """pytorch_model.bin, training_args.bin and a .pkl next to the safetensors weights."""
    for name in ("pytorch_model.bin", "training_args.bin", "extra.pkl"):
        evil_pickle(folder / name, folder / MARKER)


def declared_layers(folder: Path, layers: int) -> str:
    """A transformers config declaring more layers than its weights hold."""
    config = _config(folder)
    config["num_hidden_layers"] = layers
    _write_config(folder, config)
    return rf"num_hidden_layers={layers}"


def unexpected_weight(folder: Path, key: str) -> str:
    """A safetensors file with one tensor more than the model has."""
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(folder / "model.safetensors")
    state[key] = torch.zeros(4)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    return rf"unexpected.*{key}"


def odd_dtype(folder: Path) -> str:
    """Rewrite the safetensors header so one float32 tensor claims dtype F8_E8M0 (4x the elements)."""
    path = folder / "model.safetensors"
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    key = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32" and len(v["shape"]) == 1)
    header[key]["dtype"] = "F8_E8M0"
    header[key]["shape"] = [header[key]["shape"][0] * 4]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + length :])
    return r"dtype F8_E8M0"


def huge_header(folder: Path) -> str:
    """A safetensors file whose header length claims 2**60 bytes."""
    path = folder / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 2**60) + raw[8:])
    return r"header claims"


# --- remote code --------------------------------------------------------------------------------
def image_processor_auto_map(folder: Path) -> str:
    """preprocessor_config.json with an auto_map to the repository's own processor code."""
    proc_file = folder / "preprocessor_config.json"
    proc = json.loads(proc_file.read_text()) if proc_file.is_file() else {}
    proc["auto_map"] = {"AutoImageProcessor": "image_processing_evil.EvilImageProcessor"}
    proc_file.write_text(json.dumps(proc))
    evil_module(folder / "image_processing_evil.py", folder / MARKER)
    return r"needs Python code from its repository.*--trust-remote-code"


def tokenizer_auto_map_list(folder: Path) -> str:
    """tokenizer_config.json with an auto_map written as a list."""
    tok_file = folder / "tokenizer_config.json"
    tok = json.loads(tok_file.read_text())
    tok["auto_map"] = ["tokenization_evil.EvilTokenizer"]
    tok_file.write_text(json.dumps(tok))
    evil_module(folder / "tokenization_evil.py", folder / MARKER)
    return r"tokenizer_config.json: 'auto_map' must be an object"


def config_auto_map(folder: Path) -> str:
    config = _config(folder)
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel", "AutoModelForMaskedLM": "modeling_evil.EvilModel"}
    _write_config(folder, config)
    evil_module(folder / "modeling_evil.py", folder / MARKER)
    return r"needs Python code from its repository.*--trust-remote-code"


# --- zoolab.json and images ---------------------------------------------------------------------
def zoolab_json(folder: Path, **fields) -> None:
    path = folder / "zoolab.json"
    data = json.loads(path.read_text()) if path.is_file() else {"format_version": 1}
    data.update(fields)
    path.write_text(json.dumps(data))


def timm_crop_pct(folder: Path, crop_pct: float) -> str:
    config = _config(folder)
    config["pretrained_cfg"]["crop_pct"] = crop_pct
    _write_config(folder, config)
    return r"crop_pct"


def timm_input_size(folder: Path, side: int) -> str:
    config = _config(folder)
    config["pretrained_cfg"]["input_size"] = [3, side, side]
    _write_config(folder, config)
    return rf"is {side} pixels"


def timm_hub_pointers(folder: Path) -> None:
    """pretrained_cfg entries that point timm elsewhere (the local folder must win)."""
    config = _config(folder)
    config["pretrained_cfg"].update(hf_hub_id="attacker/evil-weights", url="http://127.0.0.1:9/evil.pth",
                                    file=str(folder / "pytorch_model.bin"))  # fmt: skip
    _write_config(folder, config)
    evil_pickle(folder / "pytorch_model.bin", folder / MARKER)


def fresh_copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


Builder = Callable[[Path], str]
