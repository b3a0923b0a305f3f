package org.zero4j.zero;

import org.bytedeco.pytorch.Tensor;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.FlatAdam;
import org.zero4j.offload.OffloadDevice;

/**
 * A rank's fp32 master weights and Adam moments over a flat range of {@code numel} elements, where
 * {@link OptimizerOffload} puts them: in memory ({@code none}), in host memory ({@code cpu}) or in
 * a swap file updated sub-group by sub-group ({@code nvme}). Both {@link ZeroOptimizer} (stages
 * 1-2) and the stage-3 optimizer keep their state through this contract; how the updated master
 * values reach the working parameters is the caller's {@link Updated} callback.
 */
public interface OptimizerState extends AutoCloseable {

  /** Fills {@code dst} with the initial master values of elements {@code [from, from + n)}. */
  interface MasterSource {
    void fill(long from, Tensor dst);
  }

  /** Receives updated fp32 master values for elements starting at {@code from}. */
  interface Updated {
    void accept(long from, Tensor master);
  }

  /**
   * The fp32 gradient of elements {@code [from, from + n)}, already averaged and clipped: a new
   * tensor or a view that the caller closes after use.
   */
  interface Gradient {
    Tensor fp32(long from, long n);
  }

  /**
   * Creates the state for {@code numel} elements on {@code rank}, with masters from {@code source}
   * and zeroed moments (with NVMe and {@code fast_init}, moments are left as the file's zero fill).
   *
   * @throws IllegalArgumentException for a bad {@code nvme_path} (missing, not a directory, not
   *     writable, too little free space)
   */
  static OptimizerState create(
      long numel, MasterSource source, OptimizerOffload offload, int rank) {
    if (offload.device() == OffloadDevice.NVME) {
      return SwappedOptimizerShard.create(numel, source, rank, offload);
    }
    OptimizerShard s = OptimizerShard.filled(numel, source);
    return offload.device() == OffloadDevice.CPU ? s.inHostMemory() : s;
  }

  /** Elements of each state tensor. */
  long numel();

  /**
   * One Adam step over every element, handing each updated range of master values to {@code
   * updated} (in memory: once, the whole master; NVMe: once per sub-group, before its write-back).
   */
  void update(FlatAdam adam, Gradient grad, AdamHyperparams hp, long step, Updated updated);

  /** Copies {@code dst.numel()} elements of {@code which}, from element {@code from}, into dst. */
  void read(AdamState which, long from, Tensor dst);

  /** Overwrites elements {@code [from, from + src.numel())} of {@code which} with {@code src}. */
  void write(AdamState which, long from, Tensor src);

  /**
   * The whole tensor of {@code which}, owned by this state.
   *
   * @throws IllegalStateException when the state is {@link #swapped()}
   */
  Tensor tensor(AdamState which);

  /** Whether the state lives in a swap file (reach it only through read and write). */
  boolean swapped();

  /**
   * {@link #tensor(AdamState)} for a caller that wants {@code what} (say, "the master shard")
   * whole.
   *
   * @throws IllegalStateException when the state is {@link #swapped()}, naming {@code what} and the
   *     ranged alternative
   */
  default Tensor inMemory(AdamState which, String what) {
    if (swapped()) {
      throw new IllegalStateException(
          what
              + " is not in memory: offload_optimizer.device is nvme and the state lives in a"
              + " swap file; read or write it in ranges with readState/writeState");
    }
    return tensor(which);
  }

  /** Bytes of fp32 master weights. */
  long masterBytes();

  /** Bytes of both Adam moments. */
  long momentBytes();

  /** Bytes of host memory counted as offloaded: the state with cpu, the staging pool with nvme. */
  long hostBytes();

  /** Bytes of swap file. */
  long nvmeBytes();

  @Override
  void close();
}
