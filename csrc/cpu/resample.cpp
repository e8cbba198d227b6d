// Resample driver: splits the planes over threads and calls the current ISA's kernels.
// Planes are independent in every op (forward and backward), so a range of planes per thread
// needs no synchronisation; each range holds at least ~64K floats of input and output.
#include "ops/resample.h"

#include "core/parallel.h"

namespace fl {

KernelTables<ResampleKernels> g_resample_kernels;
FL_REGISTER_KERNELS(resample, g_resample_kernels, register_resample_ref, register_resample_avx2,
                    register_resample_avx512)

namespace {
constexpr index_t kElementGrain = 1 << 16;

template <class Body>
void over_planes(index_t planes, index_t per_plane, const Body& body) {
  parallel_for(0, planes, std::max<index_t>(1, kElementGrain / std::max<index_t>(1, per_plane)), body);
}
}  // namespace

void interp_forward(float* y, const float* x, index_t planes, const InterpShape& s) {
  const InterpForwardFn f = g_resample_kernels.current().interp_forward;
  const index_t hw = s.h.in * s.w.in, pq = s.h.out * s.w.out;
  over_planes(planes, hw + pq, [&](index_t lo, index_t hi) { f(y + lo * pq, x + lo * hw, hi - lo, s); });
}

void interp_backward(float* dx, const float* dy, index_t planes, const InterpShape& s) {
  const InterpBackwardFn f = g_resample_kernels.current().interp_backward;
  const index_t hw = s.h.in * s.w.in, pq = s.h.out * s.w.out;
  over_planes(planes, hw + pq, [&](index_t lo, index_t hi) { f(dx + lo * hw, dy + lo * pq, hi - lo, s); });
}

void pad_forward(float* y, const float* x, index_t planes, const PadShape& s) {
  const PadForwardFn f = g_resample_kernels.current().pad_forward;
  const index_t in = s.d.in * s.h.in * s.w.in, out = s.d.out * s.h.out * s.w.out;
  over_planes(planes, in + out, [&](index_t lo, index_t hi) { f(y + lo * out, x + lo * in, hi - lo, s); });
}

void pad_backward(float* dx, const float* dy, index_t planes, const PadShape& s) {
  const PadBackwardFn f = g_resample_kernels.current().pad_backward;
  const index_t in = s.d.in * s.h.in * s.w.in, out = s.d.out * s.h.out * s.w.out;
  over_planes(planes, in + out, [&](index_t lo, index_t hi) { f(dx + lo * in, dy + lo * out, hi - lo, s); });
}

}  // namespace fl
