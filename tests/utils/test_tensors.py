"""tensor_from: shares writable arrays, copies read-only ones; the front doors raise no torch read-only warning."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from medwave.utils.tensors import tensor_from


def test_writable_array_is_shared():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tensor_from(a)
    t[0, 0] = 7
    assert a[0, 0] == 7


def test_read_only_array_is_copied_and_the_caller_keeps_its_values():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    a.flags.writeable = False
    t = tensor_from(a)
    t.add_(1)
    np.testing.assert_array_equal(a, np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(t.numpy(), a + 1)


def test_dtype_and_contiguity():
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4).transpose(2, 1, 0)
    t = tensor_from(a, np.float64)
    assert t.dtype.is_floating_point and t.dtype.itemsize == 8 and t.is_contiguous()
    np.testing.assert_array_equal(t.numpy(), a)


# torch warns once per process, so every front door runs in a fresh interpreter with the warning as an error.
_SCRIPT = textwrap.dedent("""
    import sys, warnings
    warnings.filterwarnings("error", message=".*not writable.*")
    import numpy as np, medwave
    from medwave.registration.synthetic import make_pair
    case = sys.argv[1]
    p = make_pair(2000)
    f, m, fl, ml = p["fixed"], p["moving"], p["fixed_labels"], p["moving_labels"]
    for a in (f, m, fl, ml):
        a.flags.writeable = False
    if case == "register":
        r = medwave.register(f, m, moving_seg=ml, fixed_seg=fl, iterations=(0, 2, 2, 1), progress=False)
        r.transform.resample(medwave.io.as_image(m, array_order="xyz"), inverse=True)
        r.transform.resample(medwave.io.as_image(ml, array_order="xyz"), interpolation="label")
    elif case == "register-network":
        medwave.register(f, m, moving_seg=ml, fixed_seg=fl, weights="default", iterations=(0, 0, 2, 1), progress=False)
    elif case == "register-mi":
        medwave.register(f, m, similarity="mi", fixed_mask=fl > 0, iterations=(0, 2, 0, 0), progress=False)
    elif case == "denoise":
        medwave.denoise(f, progress=False)
    elif case == "neurons":
        medwave.segment_neurons(np.ascontiguousarray(f[:48, :48, :48]), progress=False)
    elif case == "gaze":
        medwave.predict_gaze(np.ascontiguousarray(f[:, :, 40]), "opacity in the left lower lobe")
    print("ok", case)
""")


@pytest.mark.parametrize("case", ["register", "register-network", "register-mi", "denoise", "neurons", "gaze"])
def test_read_only_inputs_raise_no_torch_warning(case, tmp_path):
    script = tmp_path / "front_door.py"
    script.write_text(_SCRIPT)
    r = subprocess.run([sys.executable, str(script), case], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"ok {case}" in r.stdout
