/* Logistic sigmoid, elementwise; dst may be src (in place). Global size
 * (h * w, 1, n * c): dimension 2 is exact, dimension 0 may be padded. */
__kernel void sigmoid(__global float *arena, ulong s_off, ulong s_ns, ulong d_off, ulong d_ns,
                      int c, int plane)
{
    const int i = get_global_id(0), p = get_global_id(2);
    if (i >= plane) return;
    const int img = p / c, ch = p % c;
    size_t at = (size_t)ch * plane + i;
    float x = arena[s_off + img * s_ns + at];
    arena[d_off + img * d_ns + at] = 1.0f / (1.0f + exp(-x));
}
