"""Reference for rembg's alpha matting (rembg/bg.py alpha_matting_cutout),
written from the papers with numpy/scipy (pymatting is not available here):

* trimap: rembg's own code (binary_erosion with an ae x ae square of ones,
  border_value=1 for the background), reproduced below;
* alpha: closed-form matting (Levin, Lischinski, Weiss 2008): the matting
  Laplacian with 3x3 windows, epsilon 1e-7, whose windows are centred on the
  interior pixels; the known pixels are hard constraints, L_UU a_U = -L_UK fg_K,
  solved exactly (scipy.sparse.linalg.spsolve) or with scipy's CG; clipped to
  [0, 1] as pymatting's estimate_alpha_cf does;
* foreground: the multi-level method (Germer, Uelwer, Conrad, Harmeling 2020),
  as pymatting implements it: mean-colour start, levels of size
  round(w ** (i / n)), nearest-neighbour resizing, per-pixel 2x2 least squares
  with neighbour weights regularization + |alpha_i - alpha_j|, updated in
  place in raster order, 10 iterations on levels <= 32x32, 2 above; computed
  here in float64;
* cutout: stack(F, alpha) * 255, clipped, truncated to uint8 (rembg does not
  multiply F by alpha).
"""
import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from scipy.ndimage import binary_erosion


def rembg_trimap(mask, af=240, ab=10, ae=10):
    """rembg.bg.alpha_matting_cutout's trimap, verbatim in substance."""
    is_foreground = mask > af
    is_background = mask < ab
    structure = None
    if ae > 0:
        structure = np.ones((ae, ae), dtype=np.uint8)
    is_foreground = binary_erosion(is_foreground, structure=structure)
    is_background = binary_erosion(is_background, structure=structure, border_value=1)
    trimap = np.full(mask.shape, dtype=np.uint8, fill_value=128)
    trimap[is_foreground] = 255
    trimap[is_background] = 0
    return trimap


def laplacian_unknown_rows(image, unknown, eps=1e-7):
    """Rows of the matting Laplacian for the unknown pixels: a sparse
    (n_unknown, h*w) matrix. image: h x w x 3 float64."""
    h, w, _ = image.shape
    ys, xs = np.mgrid[1:h - 1, 1:w - 1]
    ys = ys.ravel()
    xs = xs.ravel()
    # Windows that hold an unknown pixel (the others add nothing to these rows).
    has_u = np.zeros(ys.shape, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            has_u |= unknown[ys + dy, xs + dx]
    ys = ys[has_u]
    xs = xs[has_u]
    offs = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    win = np.stack([image[ys + dy, xs + dx] for dy, dx in offs], axis=1)  # (N, 9, 3)
    mu = win.mean(axis=1, keepdims=True)
    c = win - mu
    cov = np.einsum("nki,nkj->nij", c, c) / 9.0 + (eps / 9.0) * np.eye(3)
    inv = np.linalg.inv(cov)
    v = np.einsum("nij,nkj->nki", inv, c)  # M c_k
    compact = -np.ones(h * w, np.int64)
    uidx = np.flatnonzero(unknown.ravel())
    compact[uidx] = np.arange(uidx.size)
    rows, cols, vals = [], [], []
    for a, (dya, dxa) in enumerate(offs):
        pi = (ys + dya) * w + (xs + dxa)
        sel = unknown.ravel()[pi]
        if not sel.any():
            continue
        for b, (dyb, dxb) in enumerate(offs):
            pj = (ys + dyb) * w + (xs + dxb)
            t = np.einsum("ni,ni->n", v[sel, a], c[sel, b])
            val = (1.0 if a == b else 0.0) - (1.0 + t) / 9.0
            rows.append(compact[pi[sel]])
            cols.append(pj[sel])
            vals.append(val)
    rows = np.concatenate(rows)
    cols = np.concatenate(cols)
    vals = np.concatenate(vals)
    return scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(uidx.size, h * w))


def alpha_cf(image, trimap, eps=1e-7, solver="direct", rtol=1e-7):
    """Closed-form alpha, clipped. image float64 in [0, 1], trimap uint8."""
    t = trimap.ravel() / 255.0
    is_fg = t >= 0.9
    is_bg = t <= 0.1
    is_known = is_fg | is_bg
    unknown = ~is_known
    Lr = laplacian_unknown_rows(image, unknown.reshape(trimap.shape), eps)
    L_U = Lr[:, unknown]
    R = Lr[:, is_known]
    b = -R.dot(is_fg[is_known].astype(np.float64))
    x = t.copy()
    info = {"unknown": int(unknown.sum())}
    if solver == "direct":
        x[unknown] = scipy.sparse.linalg.spsolve(L_U.tocsc(), b)
    else:
        d = L_U.diagonal()
        M = scipy.sparse.diags(1.0 / d)
        its = [0]

        def cb(_):
            its[0] += 1
        try:
            sol, _ = scipy.sparse.linalg.cg(L_U, b, tol=rtol, atol=0.0, M=M, maxiter=10000,
                                            callback=cb)
        except TypeError:  # newer scipy: rtol
            sol, _ = scipy.sparse.linalg.cg(L_U, b, rtol=rtol, atol=0.0, M=M, maxiter=10000,
                                            callback=cb)
        x[unknown] = sol
        info["iterations"] = its[0]
    return np.clip(x, 0, 1).reshape(trimap.shape), info


def foreground_ml(image, alpha, regularization=1e-5, n_small=10, n_big=2, small_size=32,
                  gradient_weight=1.0):
    """Multi-level foreground estimation (float64, pure Python loops: small images)."""
    h0, w0, depth = image.shape
    fm = image[alpha > 0.9].sum(axis=0) / (np.count_nonzero(alpha > 0.9) + 1e-5)
    bm = image[alpha < 0.1].sum(axis=0) / (np.count_nonzero(alpha < 0.1) + 1e-5)
    F_prev = np.zeros((1, 1, depth)) + fm
    B_prev = np.zeros((1, 1, depth)) + bm

    def nearest(src, h, w):
        hs, ws = src.shape[:2]
        yy = np.minimum(hs - 1, np.arange(h) * hs // h)
        xx = np.minimum(ws - 1, np.arange(w) * ws // w)
        return src[yy][:, xx].copy()

    n_levels = int(np.ceil(np.log2(max(w0, h0))))
    for lv in range(n_levels + 1):
        w = round(w0 ** (lv / n_levels))
        h = round(h0 ** (lv / n_levels))
        img = nearest(image, h, w).tolist()
        al = nearest(alpha, h, w).tolist()
        F = nearest(F_prev, h, w).tolist()
        B = nearest(B_prev, h, w).tolist()
        n_iter = n_small if (w <= small_size and h <= small_size) else n_big
        for _ in range(n_iter):
            for y in range(h):
                for x in range(w):
                    a0 = al[y][x]
                    a1 = 1.0 - a0
                    a00, a01, a11 = a0 * a0, a0 * a1, a1 * a1
                    b0 = [a0 * v for v in img[y][x]]
                    b1 = [a1 * v for v in img[y][x]]
                    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                        x2 = min(w - 1, max(0, x + dx))
                        y2 = min(h - 1, max(0, y + dy))
                        da = regularization + gradient_weight * abs(a0 - al[y2][x2])
                        a00 += da
                        a11 += da
                        f2, g2 = F[y2][x2], B[y2][x2]
                        for c in range(depth):
                            b0[c] += da * f2[c]
                            b1[c] += da * g2[c]
                    det = a00 * a11 - a01 * a01
                    fy, by = F[y][x], B[y][x]
                    for c in range(depth):
                        fc = (a11 * b0[c] - a01 * b1[c]) / det
                        bc = (-a01 * b0[c] + a00 * b1[c]) / det
                        fy[c] = min(1.0, max(0.0, fc))
                        by[c] = min(1.0, max(0.0, bc))
        F_prev = np.array(F)
        B_prev = np.array(B)
    return F_prev


def cutout(img_u8, mask_u8, af=240, ab=10, ae=10, eps=1e-7):
    """rembg's alpha_matting_cutout: returns (trimap, alpha, rgba uint8)."""
    trimap = rembg_trimap(mask_u8, af, ab, ae)
    image = img_u8 / 255.0
    alpha, _ = alpha_cf(image, trimap, eps)
    fg = foreground_ml(image, alpha)
    out = np.concatenate([fg, alpha[:, :, None]], axis=2)
    return trimap, alpha, np.clip(out * 255, 0, 255).astype(np.uint8)
