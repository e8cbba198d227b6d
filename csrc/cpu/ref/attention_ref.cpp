// Reference attention kernels: plain loops, one query row at a time (a row of Tk scores is the
// only scratch, besides the backward's dK, dV of one batch-head), dot products and sums in double.
// The oracle the fused driver is tested against and the scalar level's kernels; single-threaded.
// Contracts in ops/attention.h; the dropout mask is ops/dropout_hash.h's, one element at a time.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ops/attention.h"
#include "ops/dropout.h"

namespace {
#include "cpu/ukernels/dropout_impl.h"
}  // namespace

namespace fl {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Score of (b, i, j) after the mask: x, x + additive, or -inf where masked.
float masked(const AttnMaskView& m, index_t b, index_t i, index_t j, float x) {
  switch (m.kind) {
    case AttnMask::causal: return j > i ? -kInf : x;
    case AttnMask::boolean: {
      const auto* p = static_cast<const std::uint8_t*>(m.data);
      return p[m.batch_offset[b] + i * m.stride_q + j * m.stride_k] ? x : -kInf;
    }
    case AttnMask::additive: {
      const auto* p = static_cast<const float*>(m.data);
      return x + p[m.batch_offset[b] + i * m.stride_q + j * m.stride_k];
    }
    default: return x;
  }
}

// The dropout factor of weight `index`: scale where kept, 0 where dropped (1 without dropout).
double keep_factor(const AttnDropout& d, index_t index) {
  if (d.threshold == 0) return 1.0;
  const auto g = static_cast<std::uint64_t>(index);
  const dropout_hash::Keys k = dropout_hash::keys(d.seed, static_cast<std::uint32_t>(g >> 32));
  return dropout_hash::bits(k, static_cast<std::uint32_t>(g)) >= d.threshold ? d.scale : 0.0;
}

double dot(const float* a, const float* b, index_t n) {
  double s = 0.0;
  for (index_t d = 0; d < n; ++d) s += static_cast<double>(a[d]) * b[d];
  return s;
}

// Row i of batch-head b's masked, scaled scores into s[0:Tk].
void score_row(float* s, const float* qi, const float* kb, index_t b, index_t i, const AttentionShape& sh,
               const AttnMaskView& mask, float scale) {
  for (index_t j = 0; j < sh.Tk; ++j)
    s[j] = masked(mask, b, i, j, static_cast<float>(scale * dot(qi, kb + j * sh.D, sh.D)));
}

}  // namespace

void attention_forward_ref(float* o, float* lse, const float* q, const float* k, const float* v,
                           const AttentionShape& sh, const AttnMaskView& mask, const AttentionOptions& opt) {
  std::vector<float> s(static_cast<size_t>(sh.Tk));
  std::vector<double> acc(static_cast<size_t>(sh.Dv));
  for (index_t b = 0; b < sh.BH; ++b) {
    const float* kb = k + b * sh.Tk * sh.D;
    const float* vb = v + b * sh.Tk * sh.Dv;
    for (index_t i = 0; i < sh.Tq; ++i) {
      float* oi = o + (b * sh.Tq + i) * sh.Dv;
      score_row(s.data(), q + (b * sh.Tq + i) * sh.D, kb, b, i, sh, mask, opt.scale);
      float mx = -kInf;
      for (index_t j = 0; j < sh.Tk; ++j) mx = s[j] > mx ? s[j] : mx;
      if (mx == -kInf) {  // no key attended: O = 0, lse = +inf (see ops/attention.h)
        for (index_t d = 0; d < sh.Dv; ++d) oi[d] = 0.0f;
        if (lse) lse[b * sh.Tq + i] = kInf;
        continue;
      }
      double l = 0.0;
      for (auto& a : acc) a = 0.0;
      for (index_t j = 0; j < sh.Tk; ++j) {
        const double p = std::exp(static_cast<double>(s[j]) - mx);
        l += p;
        const double pd = p * keep_factor(opt.dropout, (b * sh.Tq + i) * sh.Tk + j);
        for (index_t d = 0; d < sh.Dv; ++d) acc[d] += pd * vb[j * sh.Dv + d];
      }
      for (index_t d = 0; d < sh.Dv; ++d) oi[d] = static_cast<float>(acc[d] / l);
      if (lse) lse[b * sh.Tq + i] = static_cast<float>(mx + std::log(l));
    }
  }
}

void attention_backward_ref(float* dq, float* dk, float* dv, const float* do_, const float* q, const float* k,
                            const float* v, const float* o, const float* lse, const AttentionShape& sh,
                            const AttnMaskView& mask, const AttentionOptions& opt) {
  std::vector<float> s(static_cast<size_t>(sh.Tk));
  std::vector<double> dqi(static_cast<size_t>(sh.D));
  std::vector<double> dkb(static_cast<size_t>(sh.Tk * sh.D)), dvb(static_cast<size_t>(sh.Tk * sh.Dv));
  for (index_t b = 0; b < sh.BH; ++b) {
    const float* kb = k + b * sh.Tk * sh.D;
    const float* vb = v + b * sh.Tk * sh.Dv;
    for (auto& a : dkb) a = 0.0;
    for (auto& a : dvb) a = 0.0;
    for (index_t i = 0; i < sh.Tq; ++i) {
      const index_t row = b * sh.Tq + i;
      const float* qi = q + row * sh.D;
      const float* doi = do_ + row * sh.Dv;
      score_row(s.data(), qi, kb, b, i, sh, mask, opt.scale);
      const double delta = dot(doi, o + row * sh.Dv, sh.Dv);  // D_i = rowsum(dO * O)
      for (auto& a : dqi) a = 0.0;
      for (index_t j = 0; j < sh.Tk; ++j) {
        const double p = std::exp(static_cast<double>(s[j]) - lse[row]);  // 0 where masked
        if (p == 0.0) continue;
        const double keep = keep_factor(opt.dropout, row * sh.Tk + j);
        const double ds = p * (dot(doi, vb + j * sh.Dv, sh.Dv) * keep - delta) * opt.scale;
        for (index_t d = 0; d < sh.Dv; ++d) dvb[j * sh.Dv + d] += p * keep * doi[d];
        for (index_t d = 0; d < sh.D; ++d) {
          dqi[d] += ds * kb[j * sh.D + d];
          dkb[j * sh.D + d] += ds * qi[d];
        }
      }
      for (index_t d = 0; d < sh.D; ++d) dq[row * sh.D + d] = static_cast<float>(dqi[d]);
    }
    for (index_t n = 0; n < sh.Tk * sh.D; ++n) dk[b * sh.Tk * sh.D + n] = static_cast<float>(dkb[n]);
    for (index_t n = 0; n < sh.Tk * sh.Dv; ++n) dv[b * sh.Tk * sh.Dv + n] = static_cast<float>(dvb[n]);
  }
}

void register_attention_ref(AttentionKernels& t) {
  t.forward_ref = &attention_forward_ref;
  t.backward_ref = &attention_backward_ref;
}

}  // namespace fl
