// Device-side scalar activation functions, shared by the activation kernels (activation.cu)
// and the GEMM epilogue (gemm.cu). Same formulas and NaN / inf semantics as the CPU reference
// kernels (csrc/cpu/ref/activation_ref.cpp), in CUDA's accurate float functions (fast math
// is off in the build): expf, expm1f, tanhf, erfcf are within 2 ulp over the whole range.
#pragma once
#include "ops/activation.h"
#include "cuda/common.cuh"

namespace fl {
namespace cuda {

constexpr float kSqrt1_2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kGeluK0 = 0.79788456080286536f;  // sqrt(2/pi)
constexpr float kGeluK1 = 0.044715f;

// y = f(x); `a` is negative_slope (leaky_relu) or alpha (elu), unused otherwise.
// sigmoid without cancellation in either tail (exp(-|x|) never overflows).
__device__ __forceinline__ float sigmoid1(float x) {
  const float e = expf(-fabsf(x));
  const float s = 1.0f / (1.0f + e);
  return x >= 0.0f ? s : e * s;
}

__device__ __forceinline__ float act_forward1(ActOp op, float x, float a) {
  switch (op) {
    case ActOp::sigmoid: return sigmoid1(x);
    case ActOp::tanh: return tanhf(x);
    case ActOp::relu: return (x > 0.0f || isnan(x)) ? x : 0.0f;
    case ActOp::leaky_relu: return x > 0.0f ? x : a * x;
    case ActOp::elu: return x > 0.0f ? x : a * expm1f(x);
    case ActOp::gelu: return 0.5f * x * erfcf(-x * kSqrt1_2);
    // 0.5 x (1 + tanh(u)) = x sigmoid(2u): accurate in the negative tail, as the CPU kernels.
    case ActOp::gelu_tanh: return x * sigmoid1(2.0f * kGeluK0 * (x + kGeluK1 * x * x * x));
    case ActOp::silu: return x * sigmoid1(x);
  }
  return x;
}

// dx = dy * f'(.), from the saved tensor s: the output y for sigmoid and tanh, else the input x.
__device__ __forceinline__ float act_backward1(ActOp op, float dy, float s, float a) {
  switch (op) {
    case ActOp::sigmoid: return dy * s * (1.0f - s);
    case ActOp::tanh: return dy * (1.0f - s * s);
    case ActOp::relu: return s > 0.0f ? dy : 0.0f;
    case ActOp::leaky_relu: return s > 0.0f ? dy : a * dy;
    case ActOp::elu: return s > 0.0f ? dy : dy * a * expf(s);
    case ActOp::gelu: {
      const float cdf = 0.5f * erfcf(-s * kSqrt1_2);
      const float pdf = kInvSqrt2Pi * expf(-0.5f * s * s);
      return dy * (cdf + s * pdf);
    }
    case ActOp::gelu_tanh: {
      // d/dx x sg(2u) = sg + 2 x sg (1 - sg) u',  u' = k0 (1 + 3 k1 x^2)
      const float sg = sigmoid1(2.0f * kGeluK0 * (s + kGeluK1 * s * s * s));
      const float du = kGeluK0 * (1.0f + 3.0f * kGeluK1 * s * s);
      return dy * (sg + 2.0f * s * sg * (1.0f - sg) * du);
    }
    case ActOp::silu: {  // d/dx x sg(x) = sg (1 + x (1 - sg))
      const float sg = sigmoid1(s);
      return dy * (sg * (1.0f + s * (1.0f - sg)));
    }
  }
  return dy;
}

}  // namespace cuda
}  // namespace fl
