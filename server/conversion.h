// The wire contract (lossd.v1) to and from the loss library. Together with
// tensor_codec this is the only code that knows both sides; the service
// calls these plain functions and holds no loss maths.

#ifndef LOSSD_SERVER_CONVERSION_H_
#define LOSSD_SERVER_CONVERSION_H_

#include <functional>

#include "absl/status/status.h"
#include "lossd/v1/loss_service.pb.h"

namespace lossd::server {

// Validates `request`, computes it with the library and fills `response`
// (all but request_id). Errors: NotFound for an unknown loss, else
// InvalidArgument naming the field and, for data, the first offending index.
// Never crashes on any input. Thread-safe.
absl::Status ComputeFromProto(const v1::ComputeRequest& request,
                              v1::ComputeResponse* response);

// As ComputeFromProto, but free to move the bytes of a raw float32 or
// float64 input into the response, as its gradient computed over them (no
// gradient buffer of its own, one payload less in memory). Afterwards
// `request`'s input data may be empty: for a caller that is done with it.
// `interrupt`, if set, is the library's LossRequest::interrupt: its error
// stops a large computation and is returned.
absl::Status ComputeFromProtoInPlace(
    v1::ComputeRequest* request, v1::ComputeResponse* response,
    std::function<absl::Status()> interrupt = {});

// The outputs `request` asks for: as selected in its `outputs`, or by
// default the gradient (when the loss has one) and, when nothing is reduced,
// the per-example losses; all in its grad_dtype, else `input_dtype`. The
// one rule for what a response holds: conversion fills it, admission costs
// it before computing.
struct RequestedOutputs {
  bool per_example = false;
  bool grad_input = false;
  bool grad_target = false;
  v1::DType dtype = v1::DTYPE_UNSPECIFIED;
};
RequestedOutputs RequestedOutputsOf(const v1::ComputeRequest& request,
                                    bool loss_has_gradient,
                                    v1::DType input_dtype);

// How many threads one request's computation may use (the library's
// LossRequest::threads: only large batches are split, and the answer does
// not depend on it); 0 means one per core. Default 1. Set it at startup,
// before serving.
void SetComputeThreads(int threads);

// Describes every registered loss, for ListLosses.
void DescribeLosses(v1::ListLossesResponse* response);

}  // namespace lossd::server

#endif  // LOSSD_SERVER_CONVERSION_H_
