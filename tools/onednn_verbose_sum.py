#!/usr/bin/env python3
"""Per-primitive times from an ONEDNN_VERBOSE=1 log of a run of TOTAL equal steps: the exec lines of the last KEEP
steps, summed per (primitive, implementation, pass) and per shape, divided by KEEP.

    ONEDNN_VERBOSE=1 DY_BENCH_NO_TWIN=1 DY_BENCH_PRECISION=bf16 build/bench/bench_step 64 128 2 1 > v.txt
    tools/onednn_verbose_sum.py v.txt 3 2

The split into steps assumes each step executes the same primitives (true of bench_step; torch's first step adds
some, so its per-step split is approximate)."""
import collections
import sys

lines=[l.strip().split(',') for l in open(sys.argv[1]) if l.startswith('onednn_verbose,exec')]
total=int(sys.argv[2]); keep=int(sys.argv[3])
per=len(lines)//total
print("exec lines", len(lines), "per step", per, "rem", len(lines)%total)
sel=lines[-per*keep:]
agg=collections.defaultdict(lambda:[0,0.0])
aggk=collections.defaultdict(lambda:[0,0.0])
for f in sel:
    kind,impl,prop=f[3],f[4],f[5]
    shape=f[-2]; t=float(f[-1])
    agg[(kind,impl,prop,shape)][0]+=1; agg[(kind,impl,prop,shape)][1]+=t
    aggk[(kind,impl,prop)][0]+=1; aggk[(kind,impl,prop)][1]+=t
tot=sum(v[1] for v in aggk.values())/keep
print("oneDNN ms per step %.1f"%tot)
for k,v in sorted(aggk.items(), key=lambda kv:-kv[1][1]):
    print("%-14s %-28s %-18s calls %4.0f  %8.1f ms/step"%(k[0],k[1],k[2],v[0]/keep,v[1]/keep))
print()
for k,v in sorted(agg.items(), key=lambda kv:-kv[1][1])[:40]:
    print("%-12s %-26s %-16s %-60s %3.0f %8.1f"%(k[0],k[1],k[2],k[3][:60],v[0]/keep,v[1]/keep))
