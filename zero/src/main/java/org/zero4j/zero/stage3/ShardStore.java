package org.zero4j.zero.stage3;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.swap.AsyncSwapper;
import org.zero4j.offload.swap.HostBytes;
import org.zero4j.offload.swap.SwapDirectory;
import org.zero4j.offload.swap.SwapFile;
import org.zero4j.offload.swap.SwapLayout;
import org.zero4j.offload.swap.SwapOp;
import org.zero4j.zero.Precision;
import org.zero4j.zero.comm.EngineOwned;

/**
 * Where each unit's parameter shard lives between gathers ({@code offload_param}): resident in
 * memory ({@code none}, or {@code cpu}, which on a CPU-only run is the same memory, accounted as
 * host), or, with {@code nvme}, in one swap file per rank, staged through {@code buffer_count}
 * working-precision buffers of {@code buffer_size} elements.
 *
 * <p>With {@code nvme}, persistent units and the first units (in unit order) whose shards total at
 * most {@code max_in_cpu} elements stay resident; the rest are swapped. A swapped unit's shard is
 * in a buffer only from its read until its gather completes: {@link #readAhead} starts reads in the
 * stage-3 prefetch order while buffers are free, {@link #ready} makes a shard present before its
 * gather is issued, and {@link #gathered} gives the buffer back once the gather is done. Updated
 * shards are written back with {@link #write} after the step.
 *
 * <p>Note [read-ahead is cancellable]: a needed unit outranks a read-ahead one. When no buffer is
 * free, {@link #ready} first takes back buffers of units that were read ahead but not yet gathered;
 * only if every buffer holds a shard under an in-flight gather does it report failure, and the
 * caller completes those gathers and asks again.
 */
final class ShardStore implements AutoCloseable {

  private final OffloadDevice device;
  private final Precision precision;
  private final Map<UnitParams, Long> fileOffset = new HashMap<>();
  private final SwapFile file;
  private final AsyncSwapper swapper;
  private final Deque<Tensor> free = new ArrayDeque<>();
  private final List<Tensor> buffers = new ArrayList<>();
  private final Map<UnitParams, Tensor> held = new HashMap<>();
  private final Map<UnitParams, SwapOp> reading = new HashMap<>();
  private final long bufferNumel;

  private ShardStore(OffloadDevice device, Precision precision) {
    this.device = device;
    this.precision = precision;
    this.file = null;
    this.swapper = null;
    this.bufferNumel = 0;
  }

  private ShardStore(
      Precision precision,
      List<UnitParams> swappedUnits,
      ParamOffload offload,
      SwapDirectory dir,
      int rank) {
    this.device = OffloadDevice.NVME;
    this.precision = precision;
    long offset = 0;
    long largest = 1;
    for (UnitParams u : swappedUnits) {
      fileOffset.put(u, offset);
      offset += SwapLayout.align(u.chunk() * precision.bytes()); // O_DIRECT: Note in SwapLayout
      largest = Math.max(largest, u.chunk());
    }
    this.bufferNumel = largest;
    SwapFile f = SwapFile.create(dir, "param", rank, offset);
    AsyncSwapper s = null;
    try {
      s = new AsyncSwapper(offload.aio());
      for (int i = 0; i < offload.config().bufferCount(); i++) {
        Tensor b = SwapLayout.alignedEmpty(largest, precision.scalarType());
        buffers.add(b);
        free.add(b);
      }
    } catch (RuntimeException e) {
      closeAll(s, f);
      throw e;
    }
    this.file = f;
    this.swapper = s;
  }

  /** Shards stay in memory ({@code none} or {@code cpu}). */
  static ShardStore resident(OffloadDevice device, Precision precision) {
    return new ShardStore(device, precision);
  }

  /**
   * Moves the shards of the swapped units (see the class comment) into a new swap file under {@code
   * nvme_path} and frees them from memory.
   *
   * @throws IllegalArgumentException for a bad {@code nvme_path} or a unit shard larger than {@code
   *     buffer_size}
   */
  @SuppressWarnings("try")
  static ShardStore swapped(
      List<UnitParams> units, ParamOffload offload, Precision precision, int rank) {
    List<UnitParams> chosen = new ArrayList<>();
    long inCpu = 0;
    long bytes = 0;
    for (UnitParams u : units) {
      if (u.persistent()) {
        continue;
      }
      if (inCpu + u.chunk() <= offload.config().maxInCpu()) {
        inCpu += u.chunk();
        continue;
      }
      if (u.chunk() > offload.config().bufferSize()) {
        throw new IllegalArgumentException(
            "zero_optimization.offload_param.buffer_size is "
                + offload.config().bufferSize()
                + " elements but unit '"
                + u.name()
                + "' has a shard of "
                + u.chunk()
                + " elements per rank; raise buffer_size to at least "
                + u.chunk()
                + " or split the unit");
      }
      chosen.add(u);
      bytes += SwapLayout.align(u.chunk() * precision.bytes());
    }
    SwapDirectory dir =
        SwapDirectory.open(
            "zero_optimization.offload_param.nvme_path",
            offload.config().nvmePath(),
            bytes,
            offload.freeSpace());
    ShardStore s = new ShardStore(precision, chosen, offload, dir, rank);
    try {
      for (UnitParams u : chosen) {
        s.swapper.write(s.file, s.fileOffset.get(u), HostBytes.of(u.shard())).await();
      }
      s.file.flush();
      for (UnitParams u : chosen) {
        u.evict();
      }
      return s;
    } catch (RuntimeException e) {
      s.close();
      throw e;
    }
  }

  private boolean isSwapped(UnitParams u) {
    return fileOffset.containsKey(u);
  }

  /** Whether any of {@code batch} has its shard in the swap file (and so is staged per unit). */
  boolean swapsAny(List<UnitParams> batch) {
    for (UnitParams u : batch) {
      if (isSwapped(u)) {
        return true;
      }
    }
    return false;
  }

  /** Starts reading the shards of {@code next}, in order, while buffers are free. */
  void readAhead(List<UnitParams> next) {
    for (UnitParams u : next) {
      if (!isSwapped(u) || held.containsKey(u) || u.state() != UnitParams.State.SHARDED) {
        continue;
      }
      Tensor b = free.poll();
      if (b == null) {
        return;
      }
      startRead(u, b);
    }
  }

  private void startRead(UnitParams u, Tensor buffer) {
    // The store owns the view (giveBack closes it); a read-ahead may be gathered only after the
    // caller's scope has closed (a forward without backward), so the view leaves that scope.
    Tensor view = EngineOwned.take(buffer.narrow(0, 0, u.chunk()));
    held.put(u, view);
    try {
      reading.put(u, swapper.read(file, fileOffset.get(u), HostBytes.of(view)));
    } catch (RuntimeException e) {
      held.remove(u);
      view.close();
      free.add(buffer);
      throw e;
    }
  }

  /**
   * Makes {@code u}'s shard present for its gather. Returns false when every buffer holds a shard
   * under an in-flight gather (Note [read-ahead is cancellable]).
   */
  boolean ready(UnitParams u) {
    if (!isSwapped(u)) {
      return true;
    }
    if (!held.containsKey(u)) {
      Tensor b = free.poll();
      if (b == null) {
        cancelReadAheads();
        b = free.poll();
      }
      if (b == null) {
        return false;
      }
      startRead(u, b);
    }
    SwapOp op = reading.remove(u);
    if (op != null) {
      op.await();
      u.install(held.get(u));
    }
    return true;
  }

  private void cancelReadAheads() {
    for (UnitParams u : new ArrayList<>(reading.keySet())) {
      if (u.state() == UnitParams.State.SHARDED) {
        reading.remove(u).await();
        giveBack(u);
      }
    }
  }

  /** {@code u}'s gather has completed (or {@code u} was released): its buffer goes back. */
  void gathered(UnitParams u) {
    if (!isSwapped(u) || !held.containsKey(u) || reading.containsKey(u)) {
      return;
    }
    u.evict();
    giveBack(u);
  }

  private void giveBack(UnitParams u) {
    Tensor view = held.remove(u);
    for (Tensor b : buffers) {
      if (b.data_ptr().address() == view.data_ptr().address()) {
        free.add(b);
      }
    }
    view.close();
  }

  /** Waits for every read still in flight and frees its buffer (end of an iteration). */
  void settle() {
    for (UnitParams u : new ArrayList<>(reading.keySet())) {
      reading.remove(u).await();
      giveBack(u);
    }
  }

  /**
   * Overwrites elements {@code [from, from + values.numel())} of {@code u}'s shard with {@code
   * values} (any dtype; converted to the working precision).
   */
  @SuppressWarnings("try")
  void write(UnitParams u, long from, Tensor values) {
    if (!isSwapped(u) || held.containsKey(u)) {
      try (Tensor dst = u.shard().narrow(0, from, values.numel())) {
        dst.copy_(values);
      }
      if (!isSwapped(u)) {
        return;
      }
    }
    try (Tensor w = values.to(precision.scalarType())) {
      long pos = fileOffset.get(u) + from * precision.bytes();
      swapper.write(file, pos, HostBytes.of(w)).await();
    }
  }

  /** A copy of {@code u}'s shard (read from the swap file when it is not present). */
  Tensor copyOf(UnitParams u) {
    if (!isSwapped(u) || held.containsKey(u) && !reading.containsKey(u)) {
      return u.shard().clone();
    }
    Tensor t = precision.empty(u.chunk());
    swapper.read(file, fileOffset.get(u), HostBytes.of(t)).await();
    return t;
  }

  /** Flushes written shards to the disk (once per step). */
  void flush() {
    if (file != null) {
      file.flush();
    }
  }

  /** Whether shards are offloaded to host memory or NVMe. */
  OffloadDevice device() {
    return device;
  }

  /** Bytes of the staging buffers. */
  long bufferBytes() {
    return buffers.size() * bufferNumel * precision.bytes();
  }

  /** Bytes of swap file. */
  long nvmeBytes() {
    return file == null ? 0 : file.size();
  }

  @Override
  public void close() {
    if (swapper != null) {
      try {
        settle();
      } finally {
        for (Tensor b : buffers) {
          b.close();
        }
        closeAll(swapper, file);
      }
    }
  }

  private static void closeAll(AsyncSwapper s, SwapFile f) {
    try {
      if (s != null) {
        s.close();
      }
    } finally {
      f.close();
    }
  }
}
