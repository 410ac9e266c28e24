/* The oneDNN CPU engine and stream held by a context. */
#include "core/context.h"

#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>

bool dy_have_dnnl(void) { return true; }

dy_status dy_dnnl_context_init(dy_ctx *ctx) {
    dnnl_engine_t engine = NULL;
    dnnl_stream_t stream = NULL;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success)
        return dy_fail(ctx, DY_ERR_INTERNAL, "oneDNN: cannot create the CPU engine");
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(engine);
        return dy_fail(ctx, DY_ERR_INTERNAL, "oneDNN: cannot create a stream");
    }
    ctx->dnnl_engine = engine;
    ctx->dnnl_stream = stream;
    return DY_OK;
}

void dy_dnnl_context_fini(dy_ctx *ctx) {
    if (ctx->dnnl_stream) dnnl_stream_destroy((dnnl_stream_t)ctx->dnnl_stream);
    if (ctx->dnnl_engine) dnnl_engine_destroy((dnnl_engine_t)ctx->dnnl_engine);
    ctx->dnnl_stream = ctx->dnnl_engine = NULL;
}

dy_status dy_dnnl_bf16_check(dy_ctx *ctx) {
    /* The effective ISA is the CPU's, capped by ONEDNN_MAX_CPU_ISA (or dnnl_set_max_cpu_isa). Below
     * avx512_core_bf16 oneDNN would still run bf16 primitives, emulating the conversions at a fraction of the fp32
     * speed; refusing says so instead of running slower than fp32. */
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if ((isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16) return DY_OK;
    return dy_fail(ctx, DY_ERR_UNSUPPORTED,
                   "precision bf16 needs a CPU with AVX512-BF16 (avx512_bf16: Intel Cooper Lake or Sapphire Rapids and "
                   "later, AMD Zen 4 and later); oneDNN's effective ISA here is below avx512_core_bf16 (0x%x%s); use "
                   "--precision fp32",
                   (unsigned)isa, getenv("ONEDNN_MAX_CPU_ISA") ? ", capped by ONEDNN_MAX_CPU_ISA" : "");
}

void dy_dnnl_describe(char *buf, size_t size) {
    const dnnl_version_t *v = dnnl_version();
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    /* the names of oneDNN 2.6's ISA levels, highest first (each includes those below) */
    static const struct {
        dnnl_cpu_isa_t isa;
        const char *name;
    } levels[] = {
        {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"}, {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
        {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"}, {dnnl_cpu_isa_avx512_core, "avx512_core"},
        {dnnl_cpu_isa_avx2, "avx2"}, {dnnl_cpu_isa_avx, "avx"}, {dnnl_cpu_isa_sse41, "sse41"}};
    const char *name = "unknown";
    for (size_t k = 0; k < sizeof levels / sizeof levels[0]; k++)
        if ((isa & levels[k].isa) == levels[k].isa) {
            name = levels[k].name;
            break;
        }
    snprintf(buf, size, "oneDNN %d.%d.%d, ISA %s", v->major, v->minor, v->patch, name);
}
