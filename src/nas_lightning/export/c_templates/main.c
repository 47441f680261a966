/* Host harness: reads raw float32 samples (NL_CHANNELS x NL_LENGTH each, channel-major, little-endian)
   from stdin until it ends, and prints one line per sample: the class index, then the NL_CLASSES int8
   logits. */
#include <stdio.h>
#include "model.h"

int main(void)
{
    static float raw[NL_CHANNELS * NL_LENGTH];
    int8_t logits[NL_CLASSES];
    while (fread(raw, sizeof raw[0], NL_CHANNELS * NL_LENGTH, stdin) == NL_CHANNELS * NL_LENGTH) {
        int k;
        printf("%d", nl_predict(raw, logits));
        for (k = 0; k < NL_CLASSES; k++) {
            printf(" %d", logits[k]);
        }
        printf("\n");
    }
    return ferror(stdin) ? 1 : 0;
}
