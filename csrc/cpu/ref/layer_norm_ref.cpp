// Reference layer-norm kernels: plain loops, sums in double. The oracle the vector kernels are
// tested against and the scalar level. Contracts in ops/layer_norm.h.
#include <cmath>

#include "ops/layer_norm.h"

namespace fl {

namespace {

void forward_ref(float* y, float* mean, float* rstd, const float* x, const float* w, const float* b, index_t m,
                 index_t n, float eps) {
  for (index_t r = 0; r < m; ++r) {
    const float* xr = x + r * n;
    double s = 0.0;
    for (index_t j = 0; j < n; ++j) s += xr[j];
    const double mu = n ? s / n : 0.0;
    double ss = 0.0;
    for (index_t j = 0; j < n; ++j) ss += (xr[j] - mu) * (xr[j] - mu);
    const float mf = static_cast<float>(mu);
    const float rs = static_cast<float>(1.0 / std::sqrt((n ? ss / n : 0.0) + eps));
    mean[r] = mf;
    rstd[r] = rs;
    if (!y) continue;
    for (index_t j = 0; j < n; ++j) {
      const float h = (xr[j] - mf) * rs;
      y[r * n + j] = h * (w ? w[j] : 1.0f) + (b ? b[j] : 0.0f);
    }
  }
}

void backward_ref(float* dx, float* dw_acc, float* db_acc, const float* dy, const float* x, const float* mean,
                  const float* rstd, const float* w, index_t m, index_t n) {
  for (index_t r = 0; r < m; ++r) {
    const float* xr = x + r * n;
    const float* dyr = dy + r * n;
    const float mu = mean[r], rs = rstd[r];
    double sg = 0.0, sgx = 0.0;
    for (index_t j = 0; j < n; ++j) {
      const double g = static_cast<double>(dyr[j]) * (w ? w[j] : 1.0f);
      sg += g;
      sgx += g * ((xr[j] - mu) * rs);
    }
    const double mg = sg / n, mgx = sgx / n;
    for (index_t j = 0; j < n; ++j) {
      const float h = (xr[j] - mu) * rs;
      const double g = static_cast<double>(dyr[j]) * (w ? w[j] : 1.0f);
      dx[r * n + j] = static_cast<float>(rs * (g - mg - h * mgx));
      if (dw_acc) dw_acc[j] += dyr[j] * h;
      if (db_acc) db_acc[j] += dyr[j];
    }
  }
}

}  // namespace

void register_layer_norm_ref(LayerNormKernels& t) {
  t.forward = &forward_ref;
  t.backward = &backward_ref;
}

}  // namespace fl
