#!/usr/bin/python3
"""Spoken digits 0-9 by espeak-ng (Debian package espeak-ng), reproducibly: the audio main job's data set.

A speaker is an English espeak-ng voice with a voice variant ("en-us+m3", "en-gb-scotland+f2"): the speakers are the
fixed lists VOICES x VARIANTS below, and --speakers of them are drawn with the seed, --test-speakers of those for
the test split, the rest for training (train and test speakers disjoint). Each speaker says each digit (as its word,
"zero" .. "nine") --renditions times, each at its own speed (words per minute) and pitch (0-99), drawn from the
seed, the speaker, the digit and the rendition alone: the same arguments give the same files (with the same
espeak-ng), whatever --jobs and whatever else is asked for.

    DIR/train/<digit>/<speaker>_<n>.wav     22050 Hz mono 16-bit WAV, as espeak-ng writes it
    DIR/test/<digit>/<speaker>_<n>.wav
    DIR/manifest.csv                         split, digit, speaker, voice, variant, speed, pitch, file
    DIR/source.txt                           the espeak-ng version and this script's arguments

dystress reads the speaker back from the file name (up to the first '_'; src/data/audio/audio_folder.c).
Python 3 standard library only.

    tools/make_spoken_digits.py DIR                        40 speakers (10 for test) x 10 digits x 10 renditions
    tools/make_spoken_digits.py DIR --speakers 4 --test-speakers 1 --renditions 2     a small set
    tools/make_spoken_digits.py DIR --list                 the speakers of each split, nothing made

espeak-ng takes about 30-50 ms of CPU a clip (1.51, AMD EPYC): the default 4000 clips are 2-3 CPU minutes, about
a minute and a half on two idle cores.
"""
import argparse
import concurrent.futures
import csv
import os
import random
import shutil
import subprocess
import sys
import time

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# The English voices of espeak-ng 1.51 (espeak-ng --voices=en) that need no MBROLA: accents of one language, so that
# a digit is always the same word
VOICES = ["en", "en-029", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-gb-x-rp", "en-us", "en-us-nyc"]
# voice variants (espeak-ng --voices=variant, by file name): the numbered male and female formant sets, the Klatt
# synthesiser's, and named ones of distinct timbre (whispering, robotic and joke variants left out)
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
            "Alicia", "Andy", "Annie", "belinda", "david", "grandma", "grandpa", "john", "linda", "max", "rob", "steph"]
SPEED = (120, 220)  # words per minute (espeak-ng's default is 175)
PITCH = (20, 80)    # 0-99 (default 50)


def espeak():
    exe = shutil.which("espeak-ng")
    if not exe:
        sys.exit("make_spoken_digits: espeak-ng is missing (Debian package espeak-ng: scripts/deps.sh installs it)")
    return exe


def check_voices(exe):
    """Every voice and variant of the fixed lists must exist in this espeak-ng (else the set would differ)."""
    def listed(arg):
        out = subprocess.run([exe, f"--voices={arg}"], capture_output=True, text=True, check=True).stdout
        names = set()
        for line in out.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 5:
                names.add(cols[1])                   # the language column ("en-us")
                names.add(cols[4].split("/")[-1])    # the file column ("gmw/en-US" or "!v/m3")
        return names
    voices, variants = listed("en"), listed("variant")
    missing = [v for v in VOICES if v not in voices] + [v for v in VARIANTS if v not in variants]
    if missing:
        sys.exit(f"make_spoken_digits: this espeak-ng lacks {', '.join(missing)}")


def plan(args):
    """(split, digit, speaker, voice, variant, speed, pitch, relative path) for every clip, in a fixed order."""
    everyone = [(v, x) for v in VOICES for x in VARIANTS]
    if not 1 <= args.test_speakers < args.speakers <= len(everyone):
        sys.exit(f"make_spoken_digits: need 1 <= --test-speakers < --speakers <= {len(everyone)}")
    chosen = random.Random(f"speakers:{args.seed}").sample(everyone, args.speakers)
    test = set(random.Random(f"split:{args.seed}").sample(range(args.speakers), args.test_speakers))
    clips = []
    for i, (voice, variant) in enumerate(chosen):
        split, speaker = ("test" if i in test else "train"), f"{voice}+{variant}"
        for digit in range(10):
            for n in range(args.renditions):
                r = random.Random(f"clip:{args.seed}:{speaker}:{digit}:{n}")
                speed, pitch = r.randint(*SPEED), r.randint(*PITCH)
                path = os.path.join(split, str(digit), f"{speaker}_{n:02d}.wav")
                clips.append((split, digit, speaker, voice, variant, speed, pitch, path))
    return clips


def speak(exe, out_dir, clip):
    split, digit, speaker, voice, variant, speed, pitch, path = clip
    dst = os.path.join(out_dir, path)
    tmp = dst + ".part"
    subprocess.run([exe, "-v", f"{voice}+{variant}", "-s", str(speed), "-p", str(pitch), "-w", tmp, WORDS[digit]],
                   check=True, capture_output=True)
    os.replace(tmp, dst)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--speakers", type=int, default=40, help="speakers drawn from the voices x variants (40)")
    ap.add_argument("--test-speakers", type=int, default=10, help="of them, for the test split (10)")
    ap.add_argument("--renditions", type=int, default=10, help="clips of each digit by each speaker (10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="espeak-ng processes at once")
    ap.add_argument("--list", action="store_true", help="print each split's speakers and stop (nothing written)")
    args = ap.parse_args()
    if args.list:
        clips = plan(args)
        for split in ("train", "test"):
            speakers = sorted({c[2] for c in clips if c[0] == split})
            print(f"{split}: {len(speakers)} speakers: {' '.join(speakers)}")
        return
    exe = espeak()
    check_voices(exe)
    clips = plan(args)
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    source = (f"{version}\ntools/make_spoken_digits.py --speakers {args.speakers} --test-speakers "
              f"{args.test_speakers} --renditions {args.renditions} --seed {args.seed}\n")
    for split in ("train", "test"):
        for digit in range(10):
            os.makedirs(os.path.join(args.dir, split, str(digit)), exist_ok=True)
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for f in [pool.submit(speak, exe, args.dir, c) for c in clips]:
            f.result()
    seconds = time.time() - start
    with open(os.path.join(args.dir, "manifest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["split", "digit", "speaker", "voice", "variant", "speed", "pitch", "file"])
        w.writerows(clips)
    with open(os.path.join(args.dir, "source.txt"), "w") as f:
        f.write(source)
    n_train = sum(1 for c in clips if c[0] == "train")
    print(f"make_spoken_digits: {len(clips)} clips ({n_train} train, {len(clips) - n_train} test) by "
          f"{args.speakers} speakers ({args.test_speakers} for test) in {seconds:.1f} s "
          f"({1000 * seconds / len(clips):.0f} ms a clip with {args.jobs} jobs) into {args.dir}")


if __name__ == "__main__":
    main()
