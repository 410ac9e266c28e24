/* What a user of an encoder's weights needs besides the tensors: its architecture and the input normalisation it was
 * trained with, kept as safetensors "__metadata__" strings in training checkpoints and `dystress export` files
 * (docs/PYTORCH.md; python/dystress_torch.py reads them):
 *   dystress.format_version  "1" (this list of keys)
 *   dystress.depth           "18" or "50"
 *   dystress.width           the base width ("64" is torchvision's; layer k has width * 2^(k-1) planes)
 *   dystress.in_channels     "1" (grey) or "3" (RGB); a 1-D encoder's any count (a signal's channels)
 *   dystress.dims            "1" for a 1-D encoder of signals [n, c, t] (DY_DIMS_1D; python/dystress_torch.py's
 *                            ResNet1d); absent for an image encoder (2-D)
 *   dystress.stem            "cifar" (conv 3x3 stride 1, no max-pool) or "imagenet" (conv 7x7 stride 2, max-pool)
 *   dystress.feature_dim     the width of the features h (width * 8 for ResNet-18, width * 32 for ResNet-50)
 *   dystress.image_size      the side of the training views ("32"; "H,W" when they were not square)
 *   dystress.mean            Normalize's mean per input channel, on pixels in [0, 1], comma-separated
 *   dystress.std             Normalize's standard deviation per input channel, likewise
 * The architecture keys are in every weights file this program writes; image_size, mean and std where the training
 * normalisation is known (checkpoints of pretrain, and what export makes of them). Files without any of them still
 * load everywhere: nothing reads them to load weights. */
#ifndef DY_MODEL_ENCODER_META_H
#define DY_MODEL_ENCODER_META_H

#include <stdbool.h>

#include "dystress.h"
#include "io/safetensors.h"

#define DY_ENCODER_META_VERSION 1
#define DY_ENCODER_META_MAX 10 /* the keys above */

typedef struct {
    int depth;
    int64_t width, in_channels, feature_dim;
    dy_stem stem;
    dy_dims dims;             /* DY_DIMS_2D unless the file says "dystress.dims" "1" */
    bool has_input;           /* image_size, mean and std are known */
    int64_t image_size[2];    /* height, width */
    float mean[3], std[3];    /* [in_channels] used */
} dy_encoder_meta;

/* The entries as text, ready for dy_st_write_meta (items point into the arrays beside them). */
typedef struct {
    dy_st_meta items[DY_ENCODER_META_MAX];
    int64_t count;
    char keys[DY_ENCODER_META_MAX][32];
    char values[DY_ENCODER_META_MAX][96];
} dy_encoder_meta_text;

/* The architecture of m (has_input false). */
dy_encoder_meta dy_encoder_meta_of_model(const dy_model *m);
/* Sets the input normalisation from the augmentation the encoder was trained with: its output size and Normalize
 * (mean 0, std 1 when it does not normalise). */
void dy_encoder_meta_set_input(dy_encoder_meta *e, const dy_augment *a);
void dy_encoder_meta_format(const dy_encoder_meta *e, dy_encoder_meta_text *out);
/* Reads the "dystress.*" entries of f into out. *has_arch: the architecture keys are all there; out->has_input:
 * image_size, mean and std are too (in_channels values each). DY_OK with both false for a file without them;
 * DY_ERR_FORMAT naming what (the file) and the key when one is there but malformed. */
dy_status dy_encoder_meta_read(dy_ctx *ctx, const char *what, const dy_st_file *f, dy_encoder_meta *out,
                               bool *has_arch);
/* A weights or checkpoint file's encoder as `dystress export` needs it: its metadata (dy_encoder_meta_read) and its
 * input channels from conv1.weight [width, channels, k, k] ([width, channels, k] for a 1-D encoder; *in_channels 0
 * when the file has no such conv1.weight: not a ResNet's). DY_ERR_IO/DY_ERR_FORMAT when the file cannot be read or its metadata is malformed. */
dy_status dy_encoder_file_read(dy_ctx *ctx, const char *path, dy_encoder_meta *meta, bool *has_arch,
                               int *in_channels);

#endif
