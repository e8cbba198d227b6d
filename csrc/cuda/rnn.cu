// CUDA kernels and layer drivers of the RNN family (launchers in rnn.cuh; contracts ops/rnn.h).
// Unverified on a GPU at the time of writing; tools/cuda_emu checks them against the CPU
// reference kernels (cpu/ref/rnn_ref.cpp) and a reference run of the CPU driver's algorithm.
//
// Gate kernels: one thread per (row, unit) of a step, grid-stride; each reads the unit's gates
// of the input and recurrent projections (rows G*H apart), applies the reference's equations in
// the same order (sigmoid = 1 / (1 + exp(-x)), tanh), writes h (and c, the output row, the saved
// gates). Memory-bound and tiny next to the step's recurrent GEMM.
// Drivers: the CPU driver's step structure (cpu/rnn.cpp) on one stream, the directions one after
// the other; the rows a packed batch leaves inactive at a step carry their state (a small copy
// kernel) and get zero outputs and zero gate gradients, so the T*B-row weight GEMMs add nothing
// for them.
#include <cmath>

#include "cuda/common.cuh"
#include "cuda/gemm.cuh"
#include "cuda/memory.cuh"
#include "cuda/rnn.cuh"

namespace fl {
namespace cuda {
namespace {

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// Gates per unit and saved parts per unit (rnn_gates, rnn_saved_parts of ops/rnn.h).
template <RnnCell kCell>
constexpr index_t kGates = kCell == RnnCell::lstm ? 4 : kCell == RnnCell::gru ? 3 : 1;

template <RnnCell kCell>
__global__ void rnn_gate_forward_kernel(RnnForwardArgs a) {
  const index_t H = a.H, GH = kGates<kCell> * H, total = a.rows * a.n;
  for (index_t e = global_index(); e < total; e += grid_stride()) {
    const index_t r = e / a.n, j = e - r * a.n;
    const float* xw = a.xw + r * GH;
    const float* hw = a.hw + r * GH;
    float h;
    if constexpr (kCell == RnnCell::rnn_tanh || kCell == RnnCell::rnn_relu) {
      const float v = xw[j] + hw[j];
      h = kCell == RnnCell::rnn_relu ? (v > 0.0f ? v : (v == v ? 0.0f : v)) : tanhf(v);
    } else if constexpr (kCell == RnnCell::lstm) {
      const float i = sigmoid(xw[j] + hw[j]);
      const float f = sigmoid(xw[H + j] + hw[H + j]);
      const float g = tanhf(xw[2 * H + j] + hw[2 * H + j]);
      const float o = sigmoid(xw[3 * H + j] + hw[3 * H + j]);
      const float c = __fadd_rn(__fmul_rn(f, a.c_prev[r * H + j]), __fmul_rn(i, g));
      h = o * tanhf(c);
      a.c[r * H + j] = c;
      if (a.gates) {
        float* s = a.gates + r * GH + j;
        s[0] = i, s[H] = f, s[2 * H] = g, s[3 * H] = o;
      }
    } else {
      const float rg = sigmoid(xw[j] + hw[j]);
      const float z = sigmoid(xw[H + j] + hw[H + j]);
      const float hn = hw[2 * H + j] + (a.b_hn ? a.b_hn[j] : 0.0f);
      const float n = tanhf(__fadd_rn(xw[2 * H + j], __fmul_rn(rg, hn)));
      h = __fadd_rn(__fmul_rn(1.0f - z, n), __fmul_rn(z, a.h_prev[r * H + j]));
      if (a.gates) {
        float* s = a.gates + r * 4 * H + j;
        s[0] = rg, s[H] = z, s[2 * H] = n, s[3 * H] = hn;
      }
    }
    a.h[r * H + j] = h;
    if (a.y) a.y[r * a.ld_y + j] = h;
  }
}

template <RnnCell kCell>
__global__ void rnn_gate_backward_kernel(RnnBackwardArgs a) {
  const index_t H = a.H, GH = kGates<kCell> * H, total = a.rows * a.n;
  for (index_t e = global_index(); e < total; e += grid_stride()) {
    const index_t r = e / a.n, j = e - r * a.n;
    const float dh = (a.dy ? a.dy[r * a.ld_dy + j] : 0.0f) + a.dh[r * H + j];
    float* dg = a.dgx + r * GH;
    if constexpr (kCell == RnnCell::rnn_tanh || kCell == RnnCell::rnn_relu) {
      const float h = a.h[r * H + j];
      dg[j] = kCell == RnnCell::rnn_relu ? (h > 0.0f ? dh : 0.0f) : dh * (1.0f - h * h);
    } else if constexpr (kCell == RnnCell::lstm) {
      const float* s = a.gates + r * GH;
      const float i = s[j], f = s[H + j], g = s[2 * H + j], o = s[3 * H + j];
      const float tc = tanhf(a.c[r * H + j]);
      const float dc = __fadd_rn(a.dc[r * H + j], __fmul_rn(__fmul_rn(dh, o), 1.0f - tc * tc));
      dg[j] = dc * g * i * (1.0f - i);
      dg[H + j] = dc * a.c_prev[r * H + j] * f * (1.0f - f);
      dg[2 * H + j] = dc * i * (1.0f - g * g);
      dg[3 * H + j] = dh * tc * o * (1.0f - o);
      a.dc[r * H + j] = dc * f;
    } else {
      const float* s = a.gates + r * 4 * H;
      float* dgh = a.dgh + r * GH;
      const float rg = s[j], z = s[H + j], n = s[2 * H + j], hn = s[3 * H + j];
      const float dn = dh * (1.0f - z) * (1.0f - n * n);
      const float dz = dh * (a.h_prev[r * H + j] - n) * z * (1.0f - z);
      const float dr = dn * hn * rg * (1.0f - rg);
      dg[j] = dgh[j] = dr;
      dg[H + j] = dgh[H + j] = dz;
      dg[2 * H + j] = dn;
      dgh[2 * H + j] = dn * rg;
      a.dh[r * H + j] = dh * z;
    }
  }
}

// Rows [r0, B) of a step that the packed batch leaves inactive: the state carried (h, and c
// when non-null), the output row zero.
__global__ void rnn_carry_kernel(float* h, const float* h_prev, float* c, const float* c_prev, float* y, index_t ld_y,
                                 index_t r0, index_t B, index_t H) {
  const index_t total = (B - r0) * H;
  for (index_t e = global_index(); e < total; e += grid_stride()) {
    const index_t r = r0 + e / H, j = e % H;
    h[r * H + j] = h_prev[r * H + j];
    if (c) c[r * H + j] = c_prev[r * H + j];
    y[r * ld_y + j] = 0.0f;
  }
}

// bias[k] = b_ih[k] + b_hh[k] for k < GH, b_hh only below `hh_end` (gru: 2H, its n part stays in
// the reset product).
__global__ void rnn_fold_bias_kernel(float* bias, const float* b_ih, const float* b_hh, index_t GH, index_t hh_end) {
  for (index_t k = global_index(); k < GH; k += grid_stride()) bias[k] = b_ih[k] + (b_hh && k < hh_end ? b_hh[k] : 0.0f);
}

__global__ void rnn_fill_kernel(float* p, index_t n, float value) {
  for (index_t i = global_index(); i < n; i += grid_stride()) p[i] = value;
}

__global__ void rnn_sequence_copy_kernel(float* dst, const float* src, RnnSequenceCopy c, const index_t* perm,
                                         const index_t* batch_sizes) {
  const index_t total = c.T * c.B * c.C;
  for (index_t e = global_index(); e < total; e += grid_stride()) {
    const index_t row = e / c.C, col = e - row * c.C;
    const index_t t = c.dst_batch_first ? row % c.T : row / c.B, b = c.dst_batch_first ? row / c.T : row % c.B;
    float v = 0.0f;
    if (src && !(batch_sizes && b >= batch_sizes[t])) {
      const index_t sb = perm ? perm[b] : b;
      v = sb >= 0 && sb < c.B ? src[(c.src_batch_first ? sb * c.T + t : t * c.B + sb) * c.C + col] : NAN;
    }
    dst[e] = v;
  }
}

void fill(float* p, index_t n, float value, cudaStream_t stream) {
  if (n <= 0) return;
  rnn_fill_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, n, value);
  check_launch("rnn_fill_kernel");
}

void zero(float* p, index_t n, cudaStream_t stream) {
  if (n > 0) check(cudaMemsetAsync(p, 0, sizeof(float) * n, stream), "rnn: clear");
}

// C (M x N, ldc) = alpha op(A) op(B) + beta C in FP32, as the CPU driver's sgemm calls.
void gemm(float* c, index_t ldc, const float* a, index_t lda, const float* b, index_t ldb, index_t M, index_t N,
          index_t K, bool ta, bool tb, float beta, const float* bias, cudaStream_t stream) {
  GemmEpilogue ep;
  if (bias) {
    ep.bias_mode = GemmBias::per_col;
    ep.bias = bias;
  }
  sgemm_cuda(c, a, b, M, N, K, lda, ldb, ldc, ta, tb, 1.0f, beta, ep, GemmPrecision::fp32, stream);
}

struct Layer {
  RnnCell cell;
  RnnShape s;
  index_t dirs, G, GH, SH;
  const index_t* batch_sizes;
  index_t active(index_t t) const { return batch_sizes ? batch_sizes[t] : s.B; }
  index_t time_of(index_t d, index_t step) const { return d == 1 ? s.T - 1 - step : step; }
  // Offsets (floats) into h_seq / c_seq of direction d's state before and after time t.
  index_t before(index_t d, index_t t) const { return (d * (s.T + 1) + t + d) * s.B * s.H; }
  index_t after(index_t d, index_t t) const { return (d * (s.T + 1) + t + 1 - d) * s.B * s.H; }
};

Layer make_layer(RnnCell cell, RnnShape s, index_t dirs, const index_t* batch_sizes) {
  FL_CHECK_ARG(static_cast<int>(cell) >= 0 && static_cast<int>(cell) < kRnnCellCount, "rnn: unknown cell ",
               static_cast<int>(cell));
  FL_CHECK_ARG(dirs == 1 || dirs == 2, "rnn: dirs must be 1 or 2, got ", dirs);
  FL_CHECK_ARG(s.T >= 0 && s.B >= 0 && s.I >= 0 && s.H >= 0, "rnn: negative shape T=", s.T, " B=", s.B, " I=", s.I,
               " H=", s.H);
  for (index_t t = 0; batch_sizes && t < s.T; ++t)
    FL_CHECK_ARG(batch_sizes[t] >= 0 && batch_sizes[t] <= s.B && (t == 0 || batch_sizes[t] <= batch_sizes[t - 1]),
                 "batch_sizes[", t, "] = ", batch_sizes[t], ": expected nonincreasing counts in [0, ", s.B, "]");
  const index_t G = rnn_gates(cell);
  return {cell, s, dirs, G, G * s.H, rnn_saved_parts(cell) * s.H, batch_sizes};
}

// Floats of device scratch from the caching allocator, released when the call returns (after
// the launches: the blocks are ordered by the one stream, cuda/memory.cuh).
class Scratch {
 public:
  explicit Scratch(index_t floats) {
    check(cudaGetDevice(&device_), "cudaGetDevice");
    block_ = device_alloc(device_, static_cast<std::size_t>(floats) * sizeof(float));
  }
  ~Scratch() { device_release(device_, block_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* get() const { return static_cast<float*>(block_.ptr); }

 private:
  int device_ = 0;
  DeviceBlock block_;
};

// One gate kernel launch of a step: a thread per (row, unit).
template <RnnCell kCell>
void gate_forward(const RnnForwardArgs& a, cudaStream_t stream) {
  if (a.rows <= 0 || a.n <= 0) return;
  rnn_gate_forward_kernel<kCell><<<grid_for(a.rows * a.n), kBlock, 0, stream>>>(a);
  check_launch("rnn_gate_forward_kernel");
}

template <RnnCell kCell>
void gate_backward(const RnnBackwardArgs& a, cudaStream_t stream) {
  if (a.rows <= 0 || a.n <= 0) return;
  rnn_gate_backward_kernel<kCell><<<grid_for(a.rows * a.n), kBlock, 0, stream>>>(a);
  check_launch("rnn_gate_backward_kernel");
}

}  // namespace
}  // namespace cuda

void rnn_gate_forward_cuda(RnnCell cell, const RnnForwardArgs& a, cudaStream_t stream) {
  using namespace cuda;
  switch (cell) {
    case RnnCell::rnn_tanh: return gate_forward<RnnCell::rnn_tanh>(a, stream);
    case RnnCell::rnn_relu: return gate_forward<RnnCell::rnn_relu>(a, stream);
    case RnnCell::lstm: return gate_forward<RnnCell::lstm>(a, stream);
    case RnnCell::gru: return gate_forward<RnnCell::gru>(a, stream);
  }
  throw std::invalid_argument("rnn: unknown cell");
}

void rnn_gate_backward_cuda(RnnCell cell, const RnnBackwardArgs& a, cudaStream_t stream) {
  using namespace cuda;
  switch (cell) {
    case RnnCell::rnn_tanh: return gate_backward<RnnCell::rnn_tanh>(a, stream);
    case RnnCell::rnn_relu: return gate_backward<RnnCell::rnn_relu>(a, stream);
    case RnnCell::lstm: return gate_backward<RnnCell::lstm>(a, stream);
    case RnnCell::gru: return gate_backward<RnnCell::gru>(a, stream);
  }
  throw std::invalid_argument("rnn: unknown cell");
}

void rnn_layer_forward_cuda(RnnCell cell, RnnShape s, index_t dirs, float* y, float* h_seq, float* c_seq,
                            float* gates, const float* x, const RnnWeights* w, const index_t* batch_sizes,
                            cudaStream_t stream) {
  using namespace cuda;
  const Layer L = make_layer(cell, s, dirs, batch_sizes);
  if (s.T == 0 || s.B == 0 || s.H == 0) return;
  const index_t T = s.T, B = s.B, H = s.H, GH = L.GH, TB = T * B, ldy = dirs * H;
  const bool lstm = cell == RnnCell::lstm, gru = cell == RnnCell::gru;
  // Per direction: the input projection (T*B x G*H), the step's recurrent product (B x G*H), the
  // folded bias (G*H).
  const index_t per = TB * GH + B * GH + GH;
  const Scratch scratch(dirs * per);
  for (index_t d = 0; d < dirs; ++d) {
    float* xw = scratch.get() + d * per;
    float* hw = xw + TB * GH;
    float* hp_bias = hw + B * GH;
    const float* bias = nullptr;
    if (w[d].b_ih) {
      rnn_fold_bias_kernel<<<grid_for(GH), kBlock, 0, stream>>>(hp_bias, w[d].b_ih, w[d].b_hh, GH, gru ? 2 * H : GH);
      check_launch("rnn_fold_bias_kernel");
      bias = hp_bias;
    }
    gemm(xw, GH, x, s.I, w[d].w_ih, s.I, TB, GH, s.I, false, true, 0.0f, bias, stream);
    for (index_t step = 0; step < T; ++step) {
      const index_t t = L.time_of(d, step), nb = L.active(t);
      const float* hp = h_seq + L.before(d, t);
      float* hn = h_seq + L.after(d, t);
      const float* cp = lstm ? c_seq + L.before(d, t) : nullptr;
      float* cn = lstm ? c_seq + L.after(d, t) : nullptr;
      float* yt = y + t * B * ldy + d * H;
      if (nb > 0) {
        gemm(hw, GH, hp, H, w[d].w_hh, H, nb, GH, H, false, true, 0.0f, nullptr, stream);
        RnnForwardArgs a{};
        a.rows = nb, a.n = H, a.H = H;
        a.xw = xw + t * B * GH;
        a.hw = hw;
        a.b_hn = gru && w[d].b_hh ? w[d].b_hh + 2 * H : nullptr;
        a.h_prev = hp;
        a.c_prev = cp;
        a.h = hn;
        a.c = cn;
        a.y = yt;
        a.ld_y = ldy;
        a.gates = gates ? gates + (d * T + t) * B * L.SH : nullptr;
        rnn_gate_forward_cuda(cell, a, stream);
      }
      if (nb < B) {
        rnn_carry_kernel<<<grid_for((B - nb) * H), kBlock, 0, stream>>>(hn, hp, cn, cp, yt, ldy, nb, B, H);
        check_launch("rnn_carry_kernel");
      }
    }
  }
}

void rnn_layer_backward_cuda(RnnCell cell, RnnShape s, index_t dirs, float* dx, float* dh, float* dc,
                             const RnnWeightGrads* g, bool accumulate, const float* dy, const float* x,
                             const RnnWeights* w, const float* h_seq, const float* c_seq, const float* gates,
                             const index_t* batch_sizes, cudaStream_t stream) {
  using namespace cuda;
  const Layer L = make_layer(cell, s, dirs, batch_sizes);
  const index_t T = s.T, B = s.B, H = s.H, I = s.I, TB = T * B, GH = L.GH, ldy = dirs * H;
  const bool lstm = cell == RnnCell::lstm, gru = cell == RnnCell::gru;
  const float beta_acc = accumulate ? 1.0f : 0.0f;
  if (TB == 0 || H == 0) {  // no step: dh0 = dh_n, dc0 = dc_n (in place); nothing else flows
    if (dx) zero(dx, TB * I, stream);
    for (index_t d = 0; d < dirs && !accumulate; ++d) {
      if (g[d].w_ih) zero(g[d].w_ih, GH * I, stream);
      if (g[d].w_hh) zero(g[d].w_hh, GH * H, stream);
      if (g[d].b_ih) zero(g[d].b_ih, GH, stream);
      if (g[d].b_hh) zero(g[d].b_hh, GH, stream);
    }
    return;
  }
  // Per direction: the gate gradients dG (T*B x G*H) and, for a gru, those of the recurrent
  // projection dGh; then a row of T*B ones (the bias gradients' GEMM).
  const index_t per = TB * GH * (gru ? 2 : 1);
  const Scratch scratch(dirs * per + TB);
  float* ones = scratch.get() + dirs * per;
  fill(ones, TB, 1.0f, stream);
  for (index_t d = 0; d < dirs; ++d) {
    float* dg = scratch.get() + d * per;
    float* dgh = gru ? dg + TB * GH : dg;
    float* dhd = dh + d * B * H;
    // Call i runs the product of the direction's previous step (step + 1 in its order, into dh),
    // then the gate-gradient kernel of step = T - 1 - i; dG rows are in time order.
    for (index_t i = 0; i < T; ++i) {
      const index_t step = T - 1 - i;
      if (step + 1 < T) {
        const index_t t1 = L.time_of(d, step + 1), nb1 = L.active(t1);
        if (nb1 > 0) gemm(dhd, H, dgh + t1 * B * GH, GH, w[d].w_hh, H, nb1, H, GH, false, false, gru ? 1.0f : 0.0f,
                          nullptr, stream);
      }
      const index_t t = L.time_of(d, step), nb = L.active(t);
      if (nb > 0) {
        RnnBackwardArgs a{};
        a.rows = nb, a.n = H, a.H = H;
        a.dy = dy ? dy + t * B * ldy + d * H : nullptr;
        a.ld_dy = ldy;
        a.dh = dhd;
        a.dc = lstm ? dc + d * B * H : nullptr;
        a.gates = gates ? gates + (d * T + t) * B * L.SH : nullptr;
        a.h = h_seq + L.after(d, t);
        a.h_prev = h_seq + L.before(d, t);
        a.c_prev = lstm ? c_seq + L.before(d, t) : nullptr;
        a.c = lstm ? c_seq + L.after(d, t) : nullptr;
        a.dgx = dg + t * B * GH;
        a.dgh = dgh + t * B * GH;
        rnn_gate_backward_cuda(cell, a, stream);
      }
      zero(dg + (t * B + nb) * GH, (B - nb) * GH, stream);  // inactive rows: no gradient
      if (gru) zero(dgh + (t * B + nb) * GH, (B - nb) * GH, stream);
    }
    // The last call: step 0's product carries its gradient to h0.
    const index_t t0 = L.time_of(d, 0), nb0 = L.active(t0);
    if (nb0 > 0) gemm(dhd, H, dgh + t0 * B * GH, GH, w[d].w_hh, H, nb0, H, GH, false, false, gru ? 1.0f : 0.0f,
                      nullptr, stream);
  }
  // dX = sum over directions of dG w_ih; dW_ih = dG^T X; dW_hh = dGh^T H_prev (H_prev of times
  // 0..T-1: T consecutive blocks of h_seq from the direction's `before` block of time 0); the
  // bias gradients ones^T dG.
  for (index_t d = 0; d < dirs; ++d) {
    const float* dg = scratch.get() + d * per;
    const float* dgh = gru ? dg + TB * GH : dg;
    if (dx) gemm(dx, I, dg, GH, w[d].w_ih, I, TB, I, GH, false, false, d > 0 ? 1.0f : 0.0f, nullptr, stream);
    if (g[d].w_ih) gemm(g[d].w_ih, I, dg, GH, x, I, GH, I, TB, true, false, beta_acc, nullptr, stream);
    if (g[d].w_hh) gemm(g[d].w_hh, H, dgh, GH, h_seq + L.before(d, 0), H, GH, H, TB, true, false, beta_acc, nullptr,
                        stream);
    if (g[d].b_ih) gemm(g[d].b_ih, GH, ones, TB, dg, GH, 1, GH, TB, false, false, beta_acc, nullptr, stream);
    if (g[d].b_hh) gemm(g[d].b_hh, GH, ones, TB, dgh, GH, 1, GH, TB, false, false, beta_acc, nullptr, stream);
  }
}

void rnn_sequence_copy_cuda(float* dst, const float* src, const RnnSequenceCopy& c, const index_t* perm,
                            const index_t* batch_sizes, cudaStream_t stream) {
  using namespace cuda;
  FL_CHECK_ARG(c.T >= 0 && c.B >= 0 && c.C >= 0, "rnn_sequence_copy: negative shape");
  const index_t total = c.T * c.B * c.C;
  if (total <= 0) return;
  rnn_sequence_copy_kernel<<<grid_for(total), kBlock, 0, stream>>>(dst, src, c, perm, batch_sizes);
  check_launch("rnn_sequence_copy_kernel");
}

}  // namespace fl
