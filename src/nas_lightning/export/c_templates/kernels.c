/*@ common */
/* Integer kernels of the power-of-two int8 scheme. A value q stands for q * 2^e; a step rounds its exact
   result to the output exponent, half to even, saturating to int8, as onnxruntime's QuantizeLinear does.
   Where onnxruntime's QLinear kernels turn an int32 accumulator into float, nl_round24 rounds it to
   float32's 24-bit significand first, so the outputs match it bit for bit. */

static int64_t nl_round24(int64_t v)
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    unsigned bits = 0;
    uint64_t q, rem, half;
    while ((a >> bits) >= ((uint64_t)1 << 24)) {
        bits++;
    }
    if (bits == 0) {
        return v;
    }
    q = a >> bits;
    rem = a & (((uint64_t)1 << bits) - 1u);
    half = (uint64_t)1 << (bits - 1u);
    if (rem > half || (rem == half && (q & 1u))) {
        q++;
    }
    a = q << bits;
    return v < 0 ? -(int64_t)a : (int64_t)a;
}

/* round(v * 2^-shift), half to even, saturated to int8 */
static int8_t nl_requant(int64_t v, int shift)
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t q;
    if (shift <= 0) {
        q = (-shift >= 8 && a != 0) ? 256u : a << (unsigned)(-shift);
    } else if (shift >= 63) {
        q = 0;
    } else {
        uint64_t rem = a & (((uint64_t)1 << (unsigned)shift) - 1u);
        uint64_t half = (uint64_t)1 << (unsigned)(shift - 1);
        q = a >> (unsigned)shift;
        if (rem > half || (rem == half && (q & 1u))) {
            q++;
        }
    }
    if (v < 0) {
        return q >= 128u ? (int8_t)-128 : (int8_t)-(int64_t)q;
    }
    return q >= 127u ? (int8_t)127 : (int8_t)q;
}

/* float -> int8 on the grid 2^e: v * 2^-e is exact in float32, then half to even (QuantizeLinear) */
static int8_t nl_quantize(float v, float inv_scale)
{
    float x = v * inv_scale;
    int32_t t;
    float frac;
    if (x != x) {
        return 0;
    }
    if (x >= 127.0f) {
        return 127;
    }
    if (x <= -128.0f) {
        return -128;
    }
    t = (int32_t)x;
    frac = x - (float)t;
    if (frac > 0.5f || (frac == 0.5f && (t & 1))) {
        t++;
    } else if (frac < -0.5f || (frac == -0.5f && (t & 1))) {
        t--;
    }
    return (int8_t)t;
}

/*@ Conv */
/* geometry: c_in h_in w_in c_out h_out w_out kh kw stride_h stride_w pad_h pad_w dil_h dil_w groups */
static void nl_conv(const int8_t *x, int8_t *y, const int8_t *w, const int32_t *b, const int8_t *shift,
                    const uint16_t *g, int relu)
{
    const unsigned cig = g[0] / g[14], cog = g[3] / g[14];
    unsigned o, oh, ow, ci, i, j;
    for (o = 0; o < g[3]; o++) {
        const unsigned x0 = (o / cog) * cig;
        for (oh = 0; oh < g[4]; oh++) {
            for (ow = 0; ow < g[5]; ow++) {
                int32_t acc = b[o];
                for (ci = 0; ci < cig; ci++) {
                    for (i = 0; i < g[6]; i++) {
                        const long ih = (long)(oh * g[8] + i * g[12]) - (long)g[10];
                        if (ih < 0 || ih >= (long)g[1]) {
                            continue;
                        }
                        for (j = 0; j < g[7]; j++) {
                            const long iw = (long)(ow * g[9] + j * g[13]) - (long)g[11];
                            if (iw < 0 || iw >= (long)g[2]) {
                                continue;
                            }
                            acc += (int32_t)x[((x0 + ci) * g[1] + (unsigned long)ih) * g[2] + (unsigned long)iw] *
                                   (int32_t)w[((o * cig + ci) * g[6] + i) * g[7] + j];
                        }
                    }
                }
                {
                    int8_t v = nl_requant(nl_round24(acc), shift[o]);
                    y[(o * g[4] + oh) * g[5] + ow] = (relu && v < 0) ? (int8_t)0 : v;
                }
            }
        }
    }
}

/*@ Gemm */
static void nl_gemm(const int8_t *x, int8_t *y, const int8_t *w, const int32_t *b, const int8_t *shift,
                    unsigned k, unsigned n, int relu)
{
    unsigned o, i;
    for (o = 0; o < n; o++) {
        int32_t acc = b[o];
        int8_t v;
        for (i = 0; i < k; i++) {
            acc += (int32_t)x[i] * (int32_t)w[o * k + i];
        }
        v = nl_requant(nl_round24(acc), shift[o]);
        y[o] = (relu && v < 0) ? (int8_t)0 : v;
    }
}

/*@ pool */
/* geometry: c h_in w_in h_out w_out kh kw stride_h stride_w pad_h pad_w dil_h dil_w count_include_pad;
   max: the largest value in the window; average: the sum over the window's cells inside the input,
   divided by their count (or by the whole window with count_include_pad), rounded half to even */
static void nl_pool(const int8_t *x, int8_t *y, const uint16_t *g, int shift, int average)
{
    unsigned c, oh, ow, i, j;
    for (c = 0; c < g[0]; c++) {
        for (oh = 0; oh < g[3]; oh++) {
            for (ow = 0; ow < g[4]; ow++) {
                int32_t acc = average ? 0 : -128;
                int64_t num, den;
                uint64_t a, q, rem;
                unsigned count = 0;
                for (i = 0; i < g[5]; i++) {
                    const long ih = (long)(oh * g[7] + i * g[11]) - (long)g[9];
                    if (ih < 0 || ih >= (long)g[1]) {
                        continue;
                    }
                    for (j = 0; j < g[6]; j++) {
                        const long iw = (long)(ow * g[8] + j * g[12]) - (long)g[10];
                        int32_t v;
                        if (iw < 0 || iw >= (long)g[2]) {
                            continue;
                        }
                        v = x[(c * g[1] + (unsigned long)ih) * g[2] + (unsigned long)iw];
                        acc = average ? acc + v : (v > acc ? v : acc);
                        count++;
                    }
                }
                if (!average) {
                    y[(c * g[3] + oh) * g[4] + ow] = nl_requant(acc, shift);
                    continue;
                }
                den = (int64_t)(g[13] ? (unsigned)g[5] * g[6] : count);
                num = acc;
                if (shift <= 0) {
                    num *= (int64_t)1 << (unsigned)(-shift < 16 ? -shift : 16);
                } else {
                    den *= (int64_t)1 << (unsigned)(shift < 40 ? shift : 40);
                }
                a = num < 0 ? (uint64_t)0 - (uint64_t)num : (uint64_t)num;
                q = a / (uint64_t)den;
                rem = a % (uint64_t)den;
                if (2u * rem > (uint64_t)den || (2u * rem == (uint64_t)den && (q & 1u))) {
                    q++;
                }
                y[(c * g[3] + oh) * g[4] + ow] = nl_requant(num < 0 ? -(int64_t)q : (int64_t)q, 0);
            }
        }
    }
}

/*@ GlobalAveragePool */
/* onnxruntime: float(sum) * float32 scale, scale = mantissa * 2^exp (mantissa < 2^24): the product
   rounded to float32 is nl_round24(sum * mantissa) * 2^exp */
static void nl_global_pool(const int8_t *x, int8_t *y, unsigned channels, unsigned size, int64_t mantissa, int exp)
{
    unsigned c, i;
    for (c = 0; c < channels; c++) {
        int32_t sum = 0;
        for (i = 0; i < size; i++) {
            sum += x[c * size + i];
        }
        y[c] = nl_requant(nl_round24((int64_t)sum * mantissa), -exp);
    }
}

/*@ Rescale */
static void nl_rescale(const int8_t *x, int8_t *y, unsigned n, int shift, int relu)
{
    unsigned i;
    for (i = 0; i < n; i++) {
        y[i] = nl_requant((relu && x[i] < 0) ? 0 : x[i], shift);
    }
}

/*@ Add */
static void nl_add(const int8_t *a, const int8_t *b, int8_t *y, unsigned n, int shift_a, int shift_b)
{
    /* the exact sum a * 2^-shift_a + b * 2^-shift_b on the finer of the two grids, then rounded */
    const int fine = shift_a > shift_b ? shift_a : shift_b;
    unsigned i;
    for (i = 0; i < n; i++) {
        const int64_t sa = (int64_t)a[i] * ((int64_t)1 << (unsigned)(fine - shift_a));
        const int64_t sb = (int64_t)b[i] * ((int64_t)1 << (unsigned)(fine - shift_b));
        y[i] = nl_requant(sa + sb, fine);
    }
}

/*@ Concat */
/* one input's blocks of `inner` values, every `total` values of the output, from `offset` */
static void nl_concat_part(const int8_t *x, int8_t *y, unsigned outer, unsigned inner, unsigned total,
                           unsigned offset, int shift)
{
    unsigned o, i;
    for (o = 0; o < outer; o++) {
        for (i = 0; i < inner; i++) {
            y[o * total + offset + i] = nl_requant(x[o * inner + i], shift);
        }
    }
}
