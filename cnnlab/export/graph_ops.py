"""What a SavedModel may run before cnnlab loads it: a SavedModel is a TensorFlow program,
and ``tf.saved_model.load`` plus one call of its signature runs whatever ops its graph
holds (WriteFile, py_func, network and process ops included). ``check_savedmodel_ops``
reads saved_model.pb (no graph is run) and refuses ops outside an inference allow-list."""

from __future__ import annotations

import re
from pathlib import Path

from cnnlab.errors import ModelError

# What inference graphs of image classifiers are made of: arithmetic, nn, shape and
# control-flow ops and resource-variable reads. No file, process, network or Python op.
INFERENCE_OPS = frozenset("""
Abs Add AddN AddV2 All Any ArgMax ArgMin Assert AssignVariableOp AvgPool AvgPool3D BatchMatMul
BatchMatMulV2 BatchMatMulV3 BatchToSpaceND BiasAdd BroadcastArgs BroadcastTo Cast Ceil CheckNumerics
ClipByValue Concat ConcatV2 Const Conv2D Conv3D Cos Cumsum DepthToSpace DepthwiseConv2dNative
DisableCopyOnRead Div DivNoNan Einsum Elu Equal Erf Exp ExpandDims Fill Floor FloorDiv FloorMod
FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3 Gather GatherNd GatherV2 Greater GreaterEqual
Identity IdentityN If ImageProjectiveTransformV2 ImageProjectiveTransformV3 L2Loss LeakyRelu Less
LessEqual Log Log1p LogSoftmax LogicalAnd LogicalNot LogicalOr MatMul Max MaxPool MaxPool3D MaxPoolV2
Maximum Mean Min Minimum MirrorPad Mod Mul Neg NoOp NotEqual OnesLike Pack Pad PadV2
PartitionedCall Placeholder PlaceholderWithDefault Pow Prod RandomStandardNormal RandomUniform
RandomUniformInt Range Rank ReadVariableOp RealDiv Reciprocal Relu Relu6 Reshape ResizeArea
ResizeBicubic ResizeBilinear ResizeNearestNeighbor Round Rsqrt Select SelectV2 Selu Shape ShapeN
Sigmoid Sign Sin Size Slice Softmax Softplus Softsign SpaceToBatchND SpaceToDepth Split SplitV Sqrt
Square SquaredDifference Squeeze StatefulPartitionedCall StatelessIf StatelessRandomGetKeyCounter
StatelessRandomUniformV2 StatelessRandomNormalV2 StatelessRandomUniformIntV2 StatelessWhile
StatelessRandomGetAlg StatelessTruncatedNormalV2 StopGradient StridedSlice Sub Sum Tan Tanh Tile
Transpose TruncatedNormal Unpack VarHandleOp VarIsInitializedOp Where While ZerosLike
NextAfter Floor Erfc Rint IsNan IsInf IsFinite LinSpace TensorListReserve TensorListFromTensor
TensorListGetItem TensorListSetItem TensorListStack TensorListLength TensorListElementShape
Bitcast Cumprod Reverse ReverseV2 TopKV2 OneHot Atan2 Atan Acos Asin Expm1 Xlogy Xdivy
""".split())
# The checkpoint ops every TF2 SavedModel carries in its traced save/restore functions;
# allowed there only, and only when no other function calls those.
CHECKPOINT_OPS = frozenset("SaveV2 RestoreV2 MergeV2Checkpoints ShardedFilename StringJoin StaticRegexFullMatch".split())
_CHECKPOINT_FUNCTION = re.compile(r"^__inference__traced_(save|restore)_\d+$")


def _called(node) -> set[str]:
    """Names of the functions a node calls (StatefulPartitionedCall's f, If/While branches)."""
    names = set()
    for value in node.attr.values():
        if value.func.name:
            names.add(value.func.name)
        names.update(f.name for f in value.list.func)
    return names


def foreign_ops(pb: Path) -> list[str]:
    """Sorted 'Op' (or 'Op in function') descriptions of what falls outside the allow-list."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    model.ParseFromString(Path(pb).read_bytes())
    bad = set()
    for graph in model.meta_graphs:
        for node in graph.graph_def.node:
            if node.op not in INFERENCE_OPS:
                bad.add(node.op)
        for function in graph.graph_def.library.function:
            checkpoint = bool(_CHECKPOINT_FUNCTION.match(function.signature.name))
            for node in function.node_def:
                if node.op not in INFERENCE_OPS and not (checkpoint and node.op in CHECKPOINT_OPS):
                    bad.add(node.op)
                if not checkpoint and any(_CHECKPOINT_FUNCTION.match(name) for name in _called(node)):
                    bad.add(f"a call of {sorted(_called(node))[0]}")
    return sorted(bad)


def check_savedmodel_ops(path: Path, unsafe: bool) -> None:
    """ModelError naming the ops outside the allow-list, unless ``unsafe``."""
    if unsafe:
        return
    try:
        bad = foreign_ops(Path(path) / "saved_model.pb")
    except Exception as exc:  # not a SavedModel protobuf at all
        raise ModelError(f"cannot load SavedModel {path}: {type(exc).__name__}; export it again with cnnlab export") from None
    if bad:
        shown = ", ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")
        raise ModelError(f"SavedModel {path} holds ops an image classifier does not need ({shown}): "
                         "a SavedModel is a program and these could read or write files or run code; "
                         "pass --unsafe only if you trust this file")  # fmt: skip
