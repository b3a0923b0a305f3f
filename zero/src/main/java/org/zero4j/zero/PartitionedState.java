package org.zero4j.zero;

import java.util.List;
import java.util.function.ObjIntConsumer;
import org.bytedeco.pytorch.Tensor;

/**
 * The model and optimizer state of one rank, as a checkpoint sees it, whatever the ZeRO stage and
 * wherever the state lives (in memory, host memory, or an NVMe swap file): the parameter fragments
 * the rank holds, ranged access to their fp32 master and Adam moments, and the parameters'
 * working-precision values streamed one piece at a time. A checkpoint saver and loader that use
 * only this interface cover stages 0-3 and every optimizer offload placement with one code path.
 */
public interface PartitionedState {

  /** The ZeRO stage, 0 to 3. */
  int stage();

  /** The managed parameters, in registration order. */
  List<NamedParameter> parameters();

  /**
   * The full shape of parameter {@code param} (registration index); at stage 3 the parameter tensor
   * itself is empty while its unit is released.
   */
  long[] shape(int param);

  /**
   * The fragments rank {@code rank} writes to a checkpoint: over all ranks they cover every
   * parameter element exactly once. Equal to {@link #heldFragments()} on that rank except at stage
   * 0, where every rank holds everything and each writes 1/N.
   */
  List<StateFragment> savedFragments(int rank);

  /** The fragments this rank holds state for (what a load must fill), in state order. */
  List<StateFragment> heldFragments();

  /**
   * This rank's fp32 masters and Adam moments, wherever {@link OptimizerOffload} put them; owned
   * (and closed) by this object. The ranged state access below goes through it.
   */
  OptimizerState optimizerState();

  /** Elements of this rank's state tensors, padding included. */
  default long stateNumel() {
    return optimizerState().numel();
  }

  /**
   * Copies {@code dst.numel()} elements of one state tensor, from element {@code from} of this
   * rank's state, into the fp32 tensor {@code dst}. Works for every placement; with NVMe offload it
   * is the only way to see the state, which is never whole in memory.
   */
  default void readState(AdamState which, long from, Tensor dst) {
    optimizerState().read(which, from, dst);
  }

  /**
   * Overwrites elements {@code [from, from + src.numel())} of one state tensor with the fp32 tensor
   * {@code src}. Writing {@link AdamState#MASTER} does not touch the working parameters; call
   * {@link #refreshWorkingFromMaster()} after a load.
   */
  default void writeState(AdamState which, long from, Tensor src) {
    optimizerState().write(which, from, src);
  }

  /**
   * Rewrites the working parameters from the fp32 masters, exactly as after an update (stage 3:
   * each unit's working shard from its master chunk, then the persistent units re-gathered). A
   * collective at stages 1-3.
   */
  void refreshWorkingFromMaster();

  /**
   * Re-derives this rank's fp32 masters from the working parameters (DeepSpeed's {@code
   * refresh_fp32_params}). Local.
   */
  void refreshMasterFromWorking();

  /**
   * The order in which {@link #streamParameters} visits parameters (registration indices): every
   * parameter once, unit by unit at stage 3, registration order below.
   */
  List<Integer> streamOrder();

  /**
   * Visits every parameter's full working-precision value on rank {@code root}, in {@link
   * #streamOrder()}, with its registration index; the tensor is valid only during the call. At
   * stage 3 one unit at a time is gathered and released again, so no rank ever holds the model: a
   * collective that every rank calls. Below stage 3 every rank already holds the parameters and
   * only {@code root} does anything.
   */
  void streamParameters(int root, ObjIntConsumer<Tensor> visitor);

  /**
   * The partition blocks in state order (buckets at stages 0-2, sharding units at stage 3), each
   * padded to a multiple of the world size; informational, for a checkpoint's manifest.
   */
  List<Block> blocks();

  /**
   * One partition block.
   *
   * @param name the sharding unit's name, or {@code bucket<i>}
   * @param start its first element in the concatenation of the padded blocks
   * @param numel its elements that are parameters
   * @param paddedNumel its elements, padding included
   */
  record Block(String name, long start, long numel, long paddedNumel) {}
}
