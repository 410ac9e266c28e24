#!/usr/bin/python3
"""The reference for dystress's log-mel front end (src/data/audio/logmel.c), in numpy float64, and its fixture.

torchaudio (not in Debian) defines the computation; this follows it formula by formula:
  - torchaudio.transforms.MelSpectrogram(sample_rate, n_fft, win_length, hop_length, f_min, f_max, n_mels) with its
    defaults: window torch.hann_window(win_length) (periodic), centred in n_fft; torch.stft(center=True,
    pad_mode="reflect", normalized=False, onesided=True); power 2; torchaudio.functional.melscale_fbanks(n_freqs,
    f_min, f_max, n_mels, sample_rate, norm=None, mel_scale="htk");
  - then log(mel + eps), natural log, eps 1e-6 unless a case sets another.
Where torch is installed (/usr/bin/python3 has Debian's torch 1.13) the STFT part is also checked against torch.stft.

    tools/logmel_ref.py                 write tests/fixtures/logmel.bin
    tools/logmel_ref.py --out PATH      elsewhere
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_fixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filter_bank(n_freqs, f_min, f_max, n_mels, sample_rate):
    """torchaudio's melscale_fbanks (htk, norm None): [n_freqs, n_mels]."""
    all_freqs = np.linspace(0, sample_rate // 2, n_freqs)
    m_pts = np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    f_pts = mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up))


def window(n_fft, win_length):
    """torch.hann_window(win_length) (periodic), zero-padded to n_fft in the middle as torch.stft does."""
    j = np.arange(win_length)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * j / win_length)
    left = (n_fft - win_length) // 2
    out = np.zeros(n_fft)
    out[left:left + win_length] = w
    return out


def power_spectrogram(x, n_fft, win_length, hop):
    """|torch.stft(x, n_fft, hop, win_length, window, center=True, pad_mode='reflect')|^2: [n_fft // 2 + 1, frames]."""
    pad = n_fft // 2
    xp = np.pad(x.astype(np.float64), pad, mode="reflect")
    frames = 1 + (len(xp) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.fft.rfft(xp[idx] * window(n_fft, win_length)[None, :], axis=1)
    return (np.abs(spec) ** 2).T, spec.T


def logmel(x, sample_rate, n_fft, win_length, hop, n_mels, f_min, f_max, eps):
    power, _ = power_spectrogram(x, n_fft, win_length, hop)
    fb = mel_filter_bank(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate)
    return np.log(fb.T @ power + eps)


def check_against_torch(x, n_fft, win_length, hop):
    """The STFT against torch.stft in float64, when torch is importable; the largest relative difference."""
    try:
        import torch
    except ImportError:
        return None
    _, spec = power_spectrogram(x, n_fft, win_length, hop)
    w = torch.hann_window(win_length, dtype=torch.float64)
    t = torch.stft(torch.from_numpy(x.astype(np.float64)), n_fft, hop_length=hop, win_length=win_length, window=w,
                   center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True).numpy()
    return float(np.max(np.abs(t - spec)) / np.max(np.abs(spec)))


# (sample_rate, n_fft, win_length, hop, n_mels, f_min, f_max, eps, signal length, signal kind)
CASES = [
    (16000, 400, 400, 160, 64, 0.0, 8000.0, 1e-6, 4000, "speechlike"),  # the front end's defaults
    (16000, 512, 400, 128, 40, 20.0, 7600.0, 1e-6, 3001, "noise"),      # window shorter than n_fft, a band
    (22050, 255, 255, 100, 32, 0.0, 11025.0, 1e-3, 1500, "chirp"),      # odd n_fft, another rate and eps
    (16000, 400, 400, 160, 64, 0.0, 8000.0, 1e-6, 201, "noise"),        # the shortest signal reflect padding allows
    (8000, 64, 48, 16, 16, 100.0, 3000.0, 1e-6, 700, "silence+tone"),   # quiet frames next to loud ones
]


def signal(kind, n, sr, rng):
    t = np.arange(n) / sr
    if kind == "noise":
        return rng.uniform(-1, 1, n)
    if kind == "chirp":
        return 0.8 * np.sin(2 * np.pi * (100 * t + 0.5 * 8000 * t * t))
    if kind == "speechlike":  # harmonics of a gliding pitch under a slow envelope, and some noise
        f0 = 120 + 40 * np.sin(2 * np.pi * 3 * t)
        phase = 2 * np.pi * np.cumsum(f0) / sr
        x = sum(np.sin(h * phase) / h for h in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
        return 0.3 * x + 0.01 * rng.standard_normal(n)
    x = np.zeros(n)
    x[n // 2:] = 0.9 * np.sin(2 * np.pi * 440 * t[n // 2:])
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "logmel.bin"))
    args = ap.parse_args()
    rng = np.random.default_rng(26)
    tensors = {"cases": np.array([len(CASES)], dtype=np.int64)}
    for i, (sr, n_fft, win, hop, n_mels, f_min, f_max, eps, n, kind) in enumerate(CASES):
        x = signal(kind, n, sr, rng).astype(np.float32)  # the C side reads float32: the reference starts from it
        y = logmel(x, sr, n_fft, win, hop, n_mels, f_min, f_max, eps)
        tensors[f"case{i}.options"] = np.array([sr, n_fft, win, hop, n_mels, f_min, f_max, eps], dtype=np.float64)
        tensors[f"case{i}.x"] = x
        tensors[f"case{i}.logmel"] = y
        diff = check_against_torch(x, n_fft, win, hop)
        print(f"case {i}: {kind}, {n} samples at {sr} Hz, n_fft {n_fft}, win {win}, hop {hop}, {n_mels} mels: "
              f"{y.shape[1]} frames, log-mel in [{y.min():.3f}, {y.max():.3f}]"
              + ("" if diff is None else f"; STFT vs torch.stft: max rel diff {diff:.2e}"))
        if diff is not None and diff > 1e-12:
            sys.exit(f"case {i}: the reference STFT differs from torch.stft by {diff:.2e}")
    # the filter bank of the defaults, to check the bank alone
    tensors["fbank_default"] = mel_filter_bank(201, 0.0, 8000.0, 64, 16000)
    write_fixture(args.out, tensors)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
