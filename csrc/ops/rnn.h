// The RNN family: Elman RNN (tanh, relu), LSTM and GRU layers with PyTorch's equations, gate
// orders (LSTM i, f, g, o; GRU r, z, n) and weight layouts (w_ih (G*H, I), w_hh (G*H, H)).
//
// A layer of one or two directions runs as (cpu/rnn.cpp):
//   1. the input projection of all T*B rows, one GEMM per direction: xw = x w_ih^T + bias, where
//      bias = b_ih + b_hh folded together (GRU: b_hh's r and z parts only, b_hn stays inside the
//      reset product n = tanh(xw_n + r * (hw_n + b_hn)));
//   2. per timestep, the recurrent GEMM hw = h_prev w_hh^T and one fused gate kernel (this
//      table) that applies the activations and the cell update in one pass and saves what
//      backward needs;
//   3. backward: per timestep (latest first) one fused gate-gradient kernel, then the GEMM that
//      carries the gradient to h_prev; at the end the weight gradients as one GEMM over all
//      T*B rows each (dW_ih = dG^T X, dW_hh = dG^T H_prev) and the input gradient dX = dG W_ih.
// Sequences are time-major here (T, B, ...); fastlayers.functional transposes batch_first
// input once. Variable lengths come as PyTorch's packed batch sizes: the batch sorted by length,
// longest first, batch_sizes[t] = the number of sequences longer than t (nonincreasing), so the
// rows active at a timestep are always a prefix of the batch.
//
// Legend: B batch, T timesteps, I input size, H hidden size, G gates (1, 4, 3), S saved parts
// per hidden unit (rnn_saved_parts).
#pragma once
#include "core/registry.h"
#include "core/tensor.h"

namespace fl {

enum class RnnCell : int { rnn_tanh = 0, rnn_relu, lstm, gru };
constexpr int kRnnCellCount = 4;

// Gates per hidden unit: rnn 1, lstm 4 (i, f, g, o), gru 3 (r, z, n).
constexpr index_t rnn_gates(RnnCell c) { return c == RnnCell::lstm ? 4 : c == RnnCell::gru ? 3 : 1; }
// What the forward kernel saves per hidden unit for backward: lstm the activated i, f, g, o;
// gru r, z, n and hn = hw_n + b_hn; rnn nothing (backward reads the step's output h).
constexpr index_t rnn_saved_parts(RnnCell c) { return c == RnnCell::lstm || c == RnnCell::gru ? 4 : 0; }

struct RnnShape {
  index_t T, B, I, H;
};

// ---- fused gate kernels: one timestep, `rows` batch rows, hidden units [0, n) ----
// The units are a slice [j0, j0 + n) of the H units (threads split a step by unit slices); every
// pointer is already offset to unit j0 of row 0, and strides are those of the whole layer:
//   gate layout (xw, hw, dgx, dgh): row r, gate k, unit j at [r * G*H + k * H + j]
//   state layout (h_prev, h, c_prev, c, dh, dc): row r, unit j at [r * H + j]
//   saved layout (gates): row r, part k, unit j at [r * S*H + k * H + j]
// Any n >= 0 and alignment; tails are masked, never a scalar loop in the vector kernels.
// Outputs do not overlap inputs, except as stated for dh and dc.
struct RnnForwardArgs {
  index_t rows, n, H;
  const float* xw;      // input projection with the folded bias
  const float* hw;      // recurrent projection h_prev w_hh^T (no bias)
  const float* b_hn;    // gru: the n part of b_hh (H floats, unit j at b_hn[j]); null: none
  const float* h_prev;  // gru reads it (z * h_prev)
  const float* c_prev;  // lstm
  float* h;             // the new state
  float* c;             // lstm: the new cell state
  float* y;             // a second copy of h (the output sequence), rows ld_y apart; null: none
  index_t ld_y;
  float* gates;         // saved for backward (S parts); null: not saved (inference)
};

// Gradients of one step. dh_total = dy + dh (the output's gradient and the one carried back
// from the next step); for lstm dc_total = dc + dh_total * o * (1 - tanh(c)^2).
struct RnnBackwardArgs {
  index_t rows, n, H;
  const float* dy;      // gradient of the output row of this step, rows ld_dy apart; null: zero
  index_t ld_dy;
  float* dh;            // in: the carried gradient of h. gru: out, the direct term z * dh_total
                        // (the driver then adds dgh w_hh); other cells leave it unchanged.
  float* dc;            // lstm: in the carried gradient of c, out dc_prev = dc_total * f
  const float* gates;   // what forward saved
  const float* h;       // rnn: the step's output state
  const float* h_prev;  // gru
  const float* c_prev;  // lstm
  const float* c;       // lstm: the step's cell state
  float* dgx;           // gradients of the gate pre-activations (the input projection's rows)
  float* dgh;           // gru: of the recurrent projection (r, z as dgx; n: dn_pre * r); other
                        // cells: unused (their recurrent and input gradients are the same dgx)
};

using RnnForwardFn = void (*)(const RnnForwardArgs& a);
using RnnBackwardFn = void (*)(const RnnBackwardArgs& a);

struct RnnKernels {
  RnnForwardFn forward[kRnnCellCount];
  RnnBackwardFn backward[kRnnCellCount];
};

extern KernelTables<RnnKernels> g_rnn_kernels;
void register_rnn_ref(RnnKernels& t);
void register_rnn_avx2(RnnKernels& t);
void register_rnn_avx512(RnnKernels& t);

// ---- drivers: one layer, one or two directions (dirs), time-major ----
// One direction's weights as PyTorch holds them; biases null when the layer has none.
struct RnnWeights {
  const float* w_ih;  // (G*H, I)
  const float* w_hh;  // (G*H, H)
  const float* b_ih;  // (G*H) or null
  const float* b_hh;  // (G*H) or null
};
// One direction's weight gradients, each (+)= when accumulate, else written; null: not wanted
// (the bias gradients must be null for a layer without biases).
struct RnnWeightGrads {
  float* w_ih;
  float* w_hh;
  float* b_ih;
  float* b_hh;
};

// Forward of one layer.
//   x (T, B, I); y (T, B, dirs * H): direction d's h at columns [d*H, (d+1)*H); rows past a
//   sequence's length are zero.
//   h_seq: dirs blocks of (T + 1, B, H) in time order. Direction 0: block 0 holds h0 on entry,
//   block t + 1 receives the state after time t, block T is h_n. Direction 1 (the reverse one,
//   which runs from t = T - 1 down to 0): block T holds h0 on entry, block t receives the state
//   after time t, block 0 is h_n. Rows not active at a time carry their state through it.
//   c_seq: the same for the cell state (lstm), else null.
//   gates: dirs blocks of (T, B, S*H) in time order, saved for backward, or null (inference).
//   batch_sizes: T nonincreasing counts in [0, B] (packed sequences), or null: all B.
void rnn_layer_forward(RnnCell cell, RnnShape s, index_t dirs, float* y, float* h_seq, float* c_seq, float* gates,
                       const float* x, const RnnWeights* w, const index_t* batch_sizes);

// Backward of one layer (the arguments of the forward, and its saved h_seq, c_seq, gates).
//   dy (T, B, dirs * H) or null (only the final states have a gradient).
//   dh: dirs blocks of (B, H): in the gradient of h_n (zero when it has none), out dh0; dc the
//   same for c (lstm), else null.
//   dx (T, B, I) or null (not wanted). g: dirs entries.
void rnn_layer_backward(RnnCell cell, RnnShape s, index_t dirs, float* dx, float* dh, float* dc,
                        const RnnWeightGrads* g, bool accumulate, const float* dy, const float* x,
                        const RnnWeights* w, const float* h_seq, const float* c_seq, const float* gates,
                        const index_t* batch_sizes);

}  // namespace fl
