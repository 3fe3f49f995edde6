import json
import os
import subprocess
import sys

import pytest

from tryon.allocator import ALLOCATOR_ENV, retain_freed_memory

TENSOR_MB = 64  # above glibc's largest mmap threshold (32 MB)
PAGES = TENSOR_MB * 2**20 // 4096

# Allocates and frees a large tensor as every training step and try-on does with its activations,
# and counts the page faults of the last passes, once the heap has settled.
PASSES = f"""
import json, resource, sys, torch
from tryon.allocator import retain_freed_memory
retained = retain_freed_memory()
faults = []
for _ in range(24):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones({TENSOR_MB * 2**20 // 4})
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({{"retained": retained, "faults": sum(faults[-8:])}}))
"""


def passes(setting: str) -> dict:
    environment = {**os.environ, ALLOCATOR_ENV: setting}
    completed = subprocess.run(
        [sys.executable, "-c", PASSES], capture_output=True, text=True, check=True, env=environment
    )
    return json.loads(completed.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_retained_heap_serves_each_pass_without_new_page_faults():
    default = passes("system")
    assert default["retained"] is False
    if default["faults"] < PAGES:
        pytest.skip("this kernel maps large allocations with transparent huge pages: nothing to compare")
    # Without it, each pass maps fresh pages and faults on every one of them.
    assert default["faults"] >= 8 * PAGES * 0.9
    retained = passes("retained")
    assert retained["retained"] is True
    assert retained["faults"] < PAGES * 0.01


def test_without_glibc_nothing_changes(monkeypatch):
    monkeypatch.delenv(ALLOCATOR_ENV, raising=False)

    def no_such_name(name: str) -> str:
        raise ValueError(f"unrecognized configuration name {name}")

    monkeypatch.setattr(os, "confstr", no_such_name)
    assert retain_freed_memory.__wrapped__() is False


def test_an_unknown_allocator_setting_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv(ALLOCATOR_ENV, "jemalloc")
    with pytest.raises(ValueError, match="TRYON_ALLOCATOR='jemalloc': use one of retained, system"):
        retain_freed_memory.__wrapped__()
