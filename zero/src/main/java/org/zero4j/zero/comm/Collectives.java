package org.zero4j.zero.comm;

import java.time.Duration;
import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.AllToAllOptions;
import org.bytedeco.pytorch.AllgatherOptions;
import org.bytedeco.pytorch.AllreduceOptions;
import org.bytedeco.pytorch.BarrierOptions;
import org.bytedeco.pytorch.BroadcastOptions;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.PrefixStore;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.ReduceScatterOptions;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.gloo.Device;

/**
 * Every collective zero4j performs goes through this class, so that tests can count bytes and a
 * reviewer can see each synchronisation point.
 *
 * <p>It owns the rendezvous ({@code TCPStore} on rank 0) and a c10d {@code ProcessGroupGloo}. All
 * operations are asynchronous and return a {@link Pending}; every wait is bounded by the group's
 * timeout, and a dead peer surfaces as a {@link CollectiveException}. Reductions are sums; callers
 * that want a mean divide afterwards (DeepSpeed's post-scaling).
 *
 * <p>With world size 1 no process group is created and every operation is a local no-op (for
 * all-gather and reduce-scatter, a copy), so single-process runs need no free port.
 *
 * <p>Instances are not thread-safe: a rank issues its collectives from one thread, in the same
 * order on every rank, as c10d requires.
 */
public final class Collectives implements AutoCloseable {

  private final CommSpec spec;
  private final Store store; // the TCP store, or the control group's prefix view of it
  private final ProcessGroupGloo group;
  private final CommStats stats;
  private final String name;
  private Collectives control; // made on first use, see control()
  private long sequence;

  private Collectives(
      CommSpec spec, Store store, ProcessGroupGloo group, CommStats stats, String name) {
    this.spec = spec;
    this.store = store;
    this.group = group;
    this.stats = stats;
    this.name = name;
  }

  /**
   * Joins the group described by {@code spec}: rank 0 serves the TCP store, the others connect to
   * it. Blocks until all ranks have arrived, or fails after the spec's timeout.
   */
  public static Collectives connect(CommSpec spec) {
    if (spec.worldSize() == 1) {
      return new Collectives(spec, null, null, new CommStats(), "");
    }
    Milliseconds timeout = new Milliseconds(spec.timeout().toMillis());
    TCPStore store;
    try {
      TCPStoreOptions options = new TCPStoreOptions();
      options.port((short) spec.masterPort());
      options.isServer(spec.rank() == 0);
      options.numWorkers(new SizeTPointer(1).put(spec.worldSize()));
      options.waitWorkers(true);
      options.timeout(timeout);
      store = new TCPStore(spec.masterAddr(), options);
    } catch (RuntimeException e) {
      throw new CollectiveException(
          "rank "
              + spec.rank()
              + " could not join the rendezvous at "
              + spec.masterAddr()
              + ":"
              + spec.masterPort()
              + " within "
              + spec.timeout()
              + " ("
              + e.getMessage()
              + "); check MASTER_ADDR/MASTER_PORT and that all "
              + spec.worldSize()
              + " ranks were started",
          e);
    }
    ProcessGroupGloo group = glooGroup(spec, store, 2);
    Collectives c = new Collectives(spec, store, group, new CommStats(), "");
    // Note [connect barrier]: Gloo returns from connectFullMesh once this rank's own pairs are up;
    // a rank that then closed its group at once could break a slower peer's handshake. The barrier
    // holds every rank until all are connected.
    c.barrier();
    return c;
  }

  /**
   * A second group of the same ranks, for small control messages that must never be matched against
   * this group's data collectives (ZeRO stage 3's divergence headers). Its collectives count in
   * this group's {@link #stats()}. Made on the first call, which is itself collective: every rank
   * must make it at the same point. Closed with this group.
   *
   * <p>Note [why a second group]: Gloo matches collectives by their order on a group alone. When
   * one rank's collective meets a peer's different one of another size, Gloo's transport thread
   * fails an assertion ("Received data size doesn't match expected size") and the process aborts;
   * nothing can catch it. A rank that must ask its peers something they may not be expecting asks
   * on this group instead, where the only messages are fixed-size ones.
   */
  public synchronized Collectives control() {
    if (control != null) {
      return control;
    }
    if (group == null) {
      control = new Collectives(spec, null, null, stats, " (control)");
      return control;
    }
    // A fresh client of the same TCP store: libtorch adopts a store into the first group that
    // uses it, and a second owner of that one fails its reference-count check.
    TCPStoreOptions client = new TCPStoreOptions();
    client.port((short) spec.masterPort());
    client.isServer(false);
    client.waitWorkers(false);
    client.timeout(new Milliseconds(spec.timeout().toMillis()));
    PrefixStore prefixed =
        new PrefixStore("zero4j-control/", new TCPStore(spec.masterAddr(), client));
    control = new Collectives(spec, prefixed, glooGroup(spec, prefixed, 1), stats, " (control)");
    control.barrier(); // Note [connect barrier]
    return control;
  }

  /** A Gloo group of {@code spec}'s ranks over {@code store}, with {@code threads} workers. */
  private static ProcessGroupGloo glooGroup(CommSpec spec, Store store, int threads) {
    ProcessGroupGloo.Options options =
        ProcessGroupGloo.Options.create(new Milliseconds(spec.timeout().toMillis()));
    options.devices().push_back(glooDevice(spec.masterAddr()));
    options.threads(threads);
    return new ProcessGroupGloo(store, spec.rank(), spec.worldSize(), options);
  }

  // Note [gloo device]: on one host the loopback address always works. Across hosts each rank must
  // bind its own interface: GLOO_SOCKET_IFNAME names it (as in PyTorch), otherwise Gloo resolves
  // this machine's hostname.
  private static Device glooDevice(String masterAddr) {
    String ifname = System.getenv("GLOO_SOCKET_IFNAME");
    if (ifname != null && !ifname.isBlank()) {
      return ProcessGroupGloo.createDeviceForInterface(ifname.split(",")[0]);
    }
    if (masterAddr.startsWith("127.") || masterAddr.equals("localhost")) {
      return ProcessGroupGloo.createDeviceForHostname(masterAddr);
    }
    return ProcessGroupGloo.createDefaultDevice();
  }

  /** This rank. */
  public int rank() {
    return spec.rank();
  }

  /** Number of ranks. */
  public int worldSize() {
    return spec.worldSize();
  }

  /** Byte counters of this rank's collectives. */
  public CommStats stats() {
    return stats;
  }

  /** The timeout every wait is bounded by. */
  public Duration timeout() {
    return spec.timeout();
  }

  /** Sums {@code t} across ranks, in place. */
  public Pending allReduce(Tensor t) {
    stats.record(CommStats.Op.ALL_REDUCE, 2 * t.nbytes(), group == null ? 0 : 2 * t.nbytes());
    if (group == null) {
      return Pending.completed("all-reduce");
    }
    AllreduceOptions o = new AllreduceOptions();
    o.timeout(new Milliseconds(spec.timeout().toMillis()));
    try (TensorVector v = new TensorVector(t)) {
      return pending(group.allreduce(v, o), "all-reduce of " + t.numel() + " elements");
    }
  }

  /**
   * Sums {@code in} across ranks and leaves chunk {@code rank} of the result in {@code out}; {@code
   * in} has {@code worldSize * out.numel()} elements and is left unchanged. On Gloo this is an
   * all-reduce of a clone (see {@link CommStats}); prefer {@link #reduceScatterInPlace} for scratch
   * inputs.
   */
  public Pending reduceScatter(Tensor out, Tensor in) {
    checkChunked("reduce-scatter", out, in);
    stats.record(CommStats.Op.REDUCE_SCATTER, in.nbytes(), group == null ? 0 : 2 * in.nbytes());
    if (group == null) {
      out.copy_(in);
      return Pending.completed("reduce-scatter");
    }
    ReduceScatterOptions o = new ReduceScatterOptions();
    o.timeout(new Milliseconds(spec.timeout().toMillis()));
    return pending(
        group._reduce_scatter_base(out, in, o), "reduce-scatter of " + in.numel() + " elements");
  }

  /**
   * A reduce-scatter whose input is scratch: {@code out} receives chunk {@code rank} of the sum and
   * {@code in} may be overwritten. Gloo has no native reduce-scatter (it would all-reduce a clone),
   * so here {@code in} is all-reduced in place and the chunk copied out on completion: the same
   * traffic, one copy of the input fewer. The logical volume counted is ZeRO's reduce-scatter.
   */
  public Pending reduceScatterInPlace(Tensor out, Tensor in) {
    checkChunked("reduce-scatter", out, in);
    stats.record(CommStats.Op.REDUCE_SCATTER, in.nbytes(), group == null ? 0 : 2 * in.nbytes());
    if (group == null) {
      out.copy_(in);
      return Pending.completed("reduce-scatter");
    }
    AllreduceOptions o = new AllreduceOptions();
    o.timeout(new Milliseconds(spec.timeout().toMillis()));
    long from = spec.rank() * out.numel();
    try (TensorVector v = new TensorVector(in)) {
      // The view of this rank's chunk is made and closed at completion: a view held until then
      // and dropped would keep the whole input buffer resident until a garbage collection.
      return pending(
              group.allreduce(v, o),
              "reduce-scatter (in-place all-reduce) of " + in.numel() + " elements")
          .then(
              () -> {
                try (Tensor mine = in.narrow(0, from, out.numel())) {
                  out.copy_(mine);
                }
              });
    }
  }

  /**
   * A reduce-scatter that moves only a reduce-scatter's traffic on Gloo: {@code out} receives chunk
   * {@code rank} of the sum of every rank's {@code in}. {@code scratch}, shaped and typed like
   * {@code in}, receives the N contributions to that chunk; {@code out} is written only once the
   * exchange has completed, so it may be a view of {@code in} (which is otherwise left unchanged).
   * The chunks are summed in rank order. {@code out} must stay open until the result is awaited;
   * the exchange holds {@code in} and {@code scratch} itself.
   */
  public Pending reduceScatterByAllToAll(Tensor out, Tensor in, Tensor scratch) {
    checkChunked("reduce-scatter", out, in);
    if (scratch.numel() != in.numel() || scratch.scalar_type().value != in.scalar_type().value) {
      throw new IllegalStateException(
          "reduce-scatter: the scratch buffer must have the input's "
              + in.numel()
              + " elements and dtype, got "
              + scratch.numel());
    }
    stats.record(CommStats.Op.REDUCE_SCATTER, in.nbytes(), group == null ? 0 : in.nbytes());
    if (group == null) {
      out.copy_(in);
      return Pending.completed("reduce-scatter");
    }
    // Note [reduce-scatter as all-to-all]: Gloo has no reduce-scatter of its own; c10d's
    // _reduce_scatter_base all-reduces a clone, which moves twice a reduce-scatter's bytes (an
    // all-reduce is a reduce-scatter plus an all-gather) and sums every chunk on every rank. An
    // all-to-all that sends chunk j of the input to rank j moves (N-1)/N of the input per rank,
    // exactly a ring reduce-scatter's traffic, and each rank then sums only its own chunk. For two
    // ranks the sum a + b is the all-reduce's bit for bit; for more ranks the rank-order sum can
    // differ from Gloo's ring order in the last bits.
    AllToAllOptions o = new AllToAllOptions();
    o.timeout(new Milliseconds(spec.timeout().toMillis()));
    long chunk = out.numel();
    Tensor[] parts = new Tensor[spec.worldSize()];
    for (int r = 0; r < parts.length; r++) {
      parts[r] = scratch.narrow(0, r * chunk, chunk); // views outlive the caller's handles
    }
    try (LongVector equal = new LongVector()) {
      return pending(
              group.alltoall_base(scratch, in, equal, equal, o),
              "reduce-scatter (all-to-all) of " + in.numel() + " elements")
          .then(
              () -> {
                torch.add_out(out, parts[0], parts[1]);
                for (int r = 2; r < parts.length; r++) {
                  out.add_(parts[r]);
                }
                for (Tensor p : parts) {
                  p.close();
                }
              });
    }
  }

  /**
   * Concatenates every rank's {@code in} into {@code out} in rank order; {@code out} has {@code
   * worldSize * in.numel()} elements and must not overlap {@code in}.
   */
  public Pending allGather(Tensor out, Tensor in) {
    return allGather(out, in, spec.timeout());
  }

  /** {@link #allGather(Tensor, Tensor)} whose wait is bounded by {@code timeout}. */
  public Pending allGather(Tensor out, Tensor in, Duration timeout) {
    checkChunked("all-gather", in, out);
    stats.record(CommStats.Op.ALL_GATHER, out.nbytes(), group == null ? 0 : out.nbytes());
    if (group == null) {
      out.copy_(in);
      return Pending.completed("all-gather");
    }
    AllgatherOptions o = new AllgatherOptions();
    o.timeout(new Milliseconds(timeout.toMillis()));
    return pending(
        group._allgather_base(out, in, o), "all-gather of " + out.numel() + " elements", timeout);
  }

  /** Copies {@code t} from {@code root} to every rank, in place. */
  public Pending broadcast(Tensor t, int root) {
    stats.record(CommStats.Op.BROADCAST, t.nbytes(), group == null ? 0 : t.nbytes());
    if (group == null) {
      return Pending.completed("broadcast");
    }
    BroadcastOptions o = new BroadcastOptions();
    o.rootRank(root);
    o.timeout(new Milliseconds(spec.timeout().toMillis()));
    try (TensorVector v = new TensorVector(t)) {
      return pending(group.broadcast(v, o), "broadcast of " + t.numel() + " elements from " + root);
    }
  }

  /** Blocks until every rank has reached the barrier, or fails after the timeout. */
  public void barrier() {
    if (group == null) {
      return;
    }
    BarrierOptions o = new BarrierOptions();
    o.timeout(new Milliseconds(spec.timeout().toMillis()));
    pending(group.barrier(o), "barrier").await();
  }

  private Pending pending(org.bytedeco.pytorch.Work work, String what) {
    return pending(work, what, spec.timeout());
  }

  private Pending pending(org.bytedeco.pytorch.Work work, String what, Duration timeout) {
    sequence++;
    // The Pending owns the work and closes it when awaited, possibly after the caller's scope.
    return new Pending(
        EngineOwned.take(work),
        what + " (collective #" + sequence + name + " on rank " + spec.rank() + ")",
        timeout);
  }

  private void checkChunked(String op, Tensor chunk, Tensor whole) {
    if (whole.numel() != chunk.numel() * spec.worldSize()) {
      throw new IllegalStateException(
          op
              + ": the whole buffer has "
              + whole.numel()
              + " elements, expected "
              + spec.worldSize()
              + " x "
              + chunk.numel());
    }
    // Note [scalar type identity]: JavaCPP returns fresh enum instances from native calls, so
    // ScalarType values must be compared by their .value, never with ==.
    if (whole.scalar_type().value != chunk.scalar_type().value) {
      throw new IllegalStateException(op + ": input and output dtypes differ");
    }
  }

  @Override
  public void close() {
    if (control != null) {
      control.close();
    }
    if (group != null) {
      group.close();
    }
    if (store != null) {
      store.close();
    }
  }
}
