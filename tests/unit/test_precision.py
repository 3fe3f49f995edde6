"""The precision table: names, what `auto` resolves to per machine, and the machine description."""

import os
import subprocess
import sys

import pytest
import torch

from tryon import precision
from tryon.config import TrainConfig
from tryon.precision import PRECISIONS, describe_machine, resolve_precision

CPU = torch.device("cpu")


@pytest.fixture
def x86_cpu(monkeypatch):
    """An x86 CPU whose oneDNN has bf16 instructions, with no oneDNN ISA limit; set the capability."""
    monkeypatch.setattr(precision.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(precision, "onednn_bf16_supported", lambda: True)
    monkeypatch.delenv(precision.ONEDNN_ISA_VARIABLE, raising=False)

    def with_capability(capability: str) -> None:
        monkeypatch.setattr(precision, "cpu_capability", lambda: capability)

    return with_capability


def test_names_resolve_per_device():
    assert resolve_precision("fp32", CPU).name == "fp32"
    assert resolve_precision("auto", "cpu").name in ("bf16", "fp32")
    assert resolve_precision("bf16", CPU).dtype == torch.bfloat16
    assert not resolve_precision("bf16", CPU).grad_scaler().is_enabled()
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ValueError, match="not one of"):
        resolve_precision("int4", CPU)


def test_config_accepts_exactly_the_table_s_names():
    for name in PRECISIONS:
        assert TrainConfig(precision=name).precision == name
    with pytest.raises(ValueError, match="train.precision"):
        TrainConfig(precision="fp8")


def test_auto_is_bf16_where_it_is_native(x86_cpu):
    x86_cpu("AVX512")
    assert precision.cpu_bf16_native()
    assert resolve_precision("auto", CPU).name == "bf16"


def test_auto_is_fp32_when_the_capability_is_held_to_avx2(x86_cpu):
    x86_cpu("AVX2")  # what ATEN_CPU_CAPABILITY=avx2 gives on an AVX-512 BF16 machine
    assert not precision.cpu_bf16_native()
    assert resolve_precision("auto", CPU).name == "fp32"
    assert resolve_precision("bf16", CPU).name == "bf16"  # asked for by name, it is still run


def test_auto_is_fp32_when_onednn_is_held_below_bf16(x86_cpu, monkeypatch):
    x86_cpu("AVX512")
    monkeypatch.setenv(precision.ONEDNN_ISA_VARIABLE, "avx2")
    assert resolve_precision("auto", CPU).name == "fp32"


def test_auto_is_fp32_without_bf16_instructions(x86_cpu, monkeypatch):
    x86_cpu("AVX512")
    monkeypatch.setattr(precision, "onednn_bf16_supported", lambda: False)
    assert resolve_precision("auto", CPU).name == "fp32"


def test_the_capability_variable_itself_turns_auto_to_fp32():
    script = (
        "import torch\nfrom tryon.precision import describe_machine, resolve_precision\n"
        "print(torch.backends.cpu.get_cpu_capability(), resolve_precision('auto', 'cpu').name, "
        "describe_machine().bf16_native)"
    )
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    capability, resolved, native = result.stdout.split()
    if capability != "AVX2":
        pytest.skip(f"this CPU's capability is {capability}, below AVX2")
    assert (resolved, native) == ("fp32", "False")


def test_machine_description_says_what_auto_was_decided_on(x86_cpu):
    x86_cpu("AVX2")
    machine = describe_machine()
    assert machine.processor
    assert machine.capability == "AVX2"
    assert machine.bf16_native is False and machine.auto_precision == "fp32"
    x86_cpu("AVX512")
    assert describe_machine().auto_precision == "bf16"
