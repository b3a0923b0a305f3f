package org.zero4j.zero.stage3;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.UnaryOperator;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.bytedeco.pytorch.VoidTensorHook;
import org.zero4j.zero.Stage3Config;

/**
 * When each unit is gathered, released and reduced: the hooks of ZeRO stage 3 (FSDP's state).
 *
 * <ul>
 *   <li>Forward: a unit is gathered (or its prefetch awaited) before its body runs, then the next
 *       units of the previous iteration's forward order are prefetched; after the body the unit is
 *       released unless it is persistent or reused soon enough ({@code stage3_max_reuse_distance}).
 *   <li>Backward: a hook on the unit's output gathers it again before its backward and prefetches
 *       the units that precede it in this iteration's forward order. When the unit's last parameter
 *       gradient has been copied into its reduce bucket ({@link UnitGradients}) the unit is
 *       released at the next hook (autograd stores that last gradient only after the hook returns),
 *       and the bucket's reduce-scatter starts once all its units are complete.
 * </ul>
 *
 * <p>Note [live window]: prefetches and reuse keep only what fits {@code
 * stage3_max_live_parameters} (gathered elements) and {@code stage3_prefetch_bucket_size} (elements
 * gathered ahead of use); a unit needed now is gathered regardless, so the window never exceeds the
 * maximum plus the unit in use.
 *
 * <p>Note [no exceptions through autograd]: hooks run inside libtorch's engine, which a Java
 * exception cannot unwind; a failure in a hook is stored, the remaining hooks do nothing, and the
 * failure is rethrown when backward returns.
 */
final class UnitLifecycle {

  private final List<UnitParams> units;
  private final UnitCollectives comm;
  private final UnitGradients grads;
  private final LiveWindow live;
  private final Stage3Config config;
  private final boolean ignoreUnused;
  private final List<Integer> trace = new ArrayList<>();
  private List<Integer> lastTrace = List.of();
  private final Deque<UnitParams> pendingRelease = new ArrayDeque<>();
  private final List<VoidTensorHook> outputHooks = new ArrayList<>();
  private final List<VoidTensorHook> paramHooks = new ArrayList<>();
  private final List<int[]> paramHookHandles = new ArrayList<>();
  private long prefetchedNumel;
  private final boolean[] prefetched;
  private final boolean[] keptForBackward; // Note [prefetch scan keeps what it passes]
  private boolean armed;
  private RuntimeException failure;
  private ShardStore store; // null: every shard is resident

  UnitLifecycle(
      List<UnitParams> units,
      UnitCollectives comm,
      UnitGradients grads,
      LiveWindow live,
      Stage3Config config,
      boolean ignoreUnused) {
    this.units = units;
    this.comm = comm;
    this.grads = grads;
    this.live = live;
    this.config = config;
    this.ignoreUnused = ignoreUnused;
    this.prefetched = new boolean[units.size()];
    this.keptForBackward = new boolean[units.size()];
    // Note [hook objects live as long as the lifecycle]: every JavaCPP callback object is made
    // here, once, and kept until close: one per parameter and one per unit for its outputs (the
    // same object is registered on every forward's output). Making callbacks per forward would
    // leave the collector to free native thunks that a graph may still reference, and JavaCPP's
    // callback allocation is not made for concurrent churn from several rank threads.
    // Note [close the hook's gradient]: JavaCPP hands a hook its gradient as a Java-owned copy of
    // the tensor handle. Left to the garbage collector, each parameter's gradient (2 bytes per
    // parameter in 16-bit) would stay resident after backward. Closing it also drops the extra
    // reference before autograd accumulates the gradient (it steals an unshared one, else copies).
    synchronized (VoidTensorHook.class) {
      for (UnitParams u : units) {
        outputHooks.add(
            new VoidTensorHook() {
              @Override
              public void call(TensorBase grad) {
                try {
                  onOutputGrad(u);
                } finally {
                  grad.close(); // Note [close the hook's gradient]
                }
              }
            });
        int[] handles = new int[u.params().size()];
        for (int i = 0; i < u.params().size(); i++) {
          int param = i;
          VoidTensorHook hook =
              new VoidTensorHook() {
                @Override
                public void call(TensorBase grad) {
                  try {
                    onParamGrad(u, param, grad);
                  } finally {
                    grad.close();
                  }
                }
              };
          paramHooks.add(hook);
          handles[i] = u.params().get(i).tensor().register_hook(hook);
        }
        paramHookHandles.add(handles);
      }
    }
  }

  /** Shards come from {@code s} before each gather (offload_param; see {@link ShardStore}). */
  void storeShards(ShardStore s) {
    this.store = s;
  }

  /** Runs a unit's body between its gather and its release. */
  Tensor run(int index, Tensor input, UnaryOperator<Tensor> body) {
    UnitParams u = units.get(index);
    preForward(u);
    Tensor out = body.apply(input);
    postForward(u, out);
    return out;
  }

  private void preForward(UnitParams u) {
    if (trace.size() > 4 * units.size()) {
      trace.clear(); // forwards without backward (evaluation): start a fresh trace
      java.util.Arrays.fill(keptForBackward, false);
    }
    trace.add(u.index());
    ensureGathered(u);
    int pos = trace.size() - 1;
    if (pos < lastTrace.size() && lastTrace.get(pos) == u.index()) {
      // the rest of the forward, then the backward (the last forward's order reversed); a forward
      // without gradients has no backward to provide for
      List<Integer> ahead = new ArrayList<>(lastTrace.subList(pos + 1, lastTrace.size()));
      int forwardPart = ahead.size();
      if (GradMode.is_enabled()) {
        for (int i = lastTrace.size() - 1; i >= 0; i--) {
          ahead.add(lastTrace.get(i));
        }
      }
      prefetch(ahead, forwardPart);
    }
  }

  private void postForward(UnitParams u, Tensor out) {
    if (out.requires_grad()) {
      out.register_hook(outputHooks.get(u.index()));
    }
    // kept for backward only when this output has one (Note [prefetch scan keeps what it passes])
    boolean kept = keptForBackward[u.index()] && out.requires_grad();
    keptForBackward[u.index()] = kept;
    if (!u.persistent() && !reusedSoon(u) && !kept) {
      release(u);
    }
  }

  // DeepSpeed's stage3_max_reuse_distance: keep a unit gathered when the elements gathered before
  // its next use (the units after it in forward, then again in backward) stay under the distance.
  private boolean reusedSoon(UnitParams u) {
    long limit = config.maxReuseDistance();
    if (limit == 0 || lastTrace.isEmpty() || live.numel() > config.maxLiveParameters()) {
      return false;
    }
    int pos = trace.size() - 1;
    if (pos >= lastTrace.size() || lastTrace.get(pos) != u.index()) {
      return false;
    }
    long between = 0;
    for (int i = pos + 1; i < lastTrace.size(); i++) {
      between += 2 * units.get(lastTrace.get(i)).paddedNumel();
    }
    return between < limit;
  }

  private void onOutputGrad(UnitParams u) {
    if (failure != null) {
      if (u.state() != UnitParams.State.GATHERED) {
        if (u.state() == UnitParams.State.SHARDED) {
          live.add(u);
        }
        u.fillAfterFailure(); // see fillAfterFailure: let autograd finish, report after
      }
      return;
    }
    try {
      releasePending();
      keptForBackward[u.index()] = false;
      ensureGathered(u);
      int pos = trace.lastIndexOf(u.index());
      if (pos > 0) {
        List<Integer> before = new ArrayList<>(trace.subList(0, pos));
        java.util.Collections.reverse(before);
        prefetch(before);
      }
    } catch (RuntimeException e) {
      failure = e;
      if (u.state() != UnitParams.State.GATHERED) {
        if (u.state() == UnitParams.State.SHARDED) {
          live.add(u);
        }
        u.fillAfterFailure();
      }
    }
  }

  private void onParamGrad(UnitParams u, int param, TensorBase grad) {
    if (failure != null) {
      return;
    }
    try {
      if (!armed) {
        throw new IllegalStateException(
            "a gradient for "
                + u.params().get(param).name()
                + " arrived outside engine.backward(loss); call engine.backward(loss) instead of"
                + " loss.backward() so that ZeRO stage 3 can reduce it");
      }
      releasePending();
      if (grads.accept(u, param, grad) && !u.persistent()) {
        pendingRelease.addLast(u);
      }
    } catch (RuntimeException e) {
      failure = e;
    }
  }

  // Note [needed unit first]: a unit needed now is gathered and awaited before any prefetch is
  // issued, so that its transfer does not share the transport's threads with the prefetches
  // (issuing them together was 3-6% slower in a paired StepBench comparison).
  private void ensureGathered(UnitParams u) {
    if (prefetched[u.index()]) {
      prefetched[u.index()] = false;
      prefetchedNumel -= u.paddedNumel();
    }
    if (u.state() == UnitParams.State.SHARDED) {
      startGather(u);
    }
    if (u.state() == UnitParams.State.GATHERING) {
      u.finishGather(comm);
      if (store != null) {
        store.gathered(u);
      }
    }
  }

  private void startGather(UnitParams u) {
    if (store != null && !store.ready(u)) {
      // every staging buffer holds a shard under an in-flight gather: complete those first
      for (UnitParams v : units) {
        if (v.state() == UnitParams.State.GATHERING) {
          v.finishGather(comm);
          store.gathered(v);
        }
      }
      if (!store.ready(u)) {
        throw new IllegalStateException(
            "no offload_param staging buffer came free for unit " + u.name());
      }
    }
    u.full().allocate();
    live.add(u);
    try {
      u.gathering(comm.gather(u));
    } catch (RuntimeException e) {
      unstarted(List.of(u));
      throw e;
    }
  }

  // After a gather was refused (a divergence found before any data moved): the units it never
  // started give their full buffers and their place in the live window back.
  private void unstarted(List<UnitParams> batch) {
    for (UnitParams v : batch) {
      if (v.state() == UnitParams.State.SHARDED) {
        live.remove(v); // counts the buffer's bytes, so before it is freed
        v.full().free();
      }
    }
  }

  // Note [prefetch batches]: the units to prefetch (in the order they will run, within
  // stage3_prefetch_bucket_size elements gathered ahead of use and stage3_max_live_parameters
  // gathered in all) go out as one batch under one divergence header (UnitCollectives); with
  // offload_param each swapped shard is staged before its own gather (ShardStore), one unit at a
  // time; resident shards (every shard without nvme) go as a batch.
  private void prefetch(List<Integer> next) {
    prefetch(next, next.size());
  }

  // Note [prefetch scan keeps what it passes]: as DeepSpeed's prefetcher walks the trace within
  // stage3_prefetch_bucket_size (counting only what it gathers), a unit it passes while gathered is
  // one whose next use it has already provided for, and DeepSpeed does not release it at the end
  // of its current use. Here the order in forward is the rest of the forward, then the backward
  // (from position forwardPart on); a gathered unit the scan reaches in the backward part stays
  // gathered from its forward to its backward (within stage3_max_live_parameters). With a bucket
  // that covers the model this keeps every unit, so a step moves 2Ψ, as in DeepSpeed.
  private void prefetch(List<Integer> next, int forwardPart) {
    if (store != null) {
      List<UnitParams> order = new ArrayList<>();
      for (int idx : next) {
        order.add(units.get(idx));
      }
      store.readAhead(order);
    }
    List<UnitParams> batch = new ArrayList<>();
    long ahead = prefetchedNumel;
    long liveNumel = live.numel();
    for (int i = 0; i < next.size(); i++) {
      UnitParams v = units.get(next.get(i));
      if (v.state() != UnitParams.State.SHARDED || batch.contains(v)) {
        if (i >= forwardPart
            && config.prefetchBucketSize() > 0
            && liveNumel <= config.maxLiveParameters()) {
          keptForBackward[v.index()] = true;
        }
        continue;
      }
      if (ahead + v.paddedNumel() > config.prefetchBucketSize()
          || liveNumel + v.paddedNumel() > config.maxLiveParameters()) {
        break;
      }
      batch.add(v);
      ahead += v.paddedNumel();
      liveNumel += v.paddedNumel();
    }
    if (store != null && store.swapsAny(batch)) {
      for (UnitParams v : batch) {
        startGather(v);
        markPrefetched(v);
      }
      return;
    }
    for (UnitParams v : batch) {
      v.full().allocate();
      live.add(v);
    }
    try {
      comm.gather(
          batch,
          (v, op) -> {
            v.gathering(op);
            markPrefetched(v);
          });
    } catch (RuntimeException e) {
      unstarted(batch);
      throw e;
    }
  }

  private void markPrefetched(UnitParams v) {
    prefetched[v.index()] = true;
    prefetchedNumel += v.paddedNumel();
  }

  private void releasePending() {
    while (!pendingRelease.isEmpty()) {
      release(pendingRelease.removeFirst());
    }
  }

  private void release(UnitParams u) {
    if (u.state() == UnitParams.State.SHARDED) {
      return;
    }
    u.release(comm);
    if (store != null) {
      store.gathered(u);
    }
    live.remove(u);
  }

  void beforeBackward() {
    armed = true;
    // Note [backward starts prefetched]: the unit that forward ran last is the first that
    // backward needs, and forward has released it (unless reused soon). Its gather, then the
    // next ones in backward order, start here, before autograd runs the loss's backward, instead
    // of in the unit's output hook with nothing left to overlap it.
    if (failure == null && !trace.isEmpty()) {
      List<Integer> backwardOrder = new ArrayList<>(trace);
      java.util.Collections.reverse(backwardOrder);
      prefetch(backwardOrder.subList(0, 1)); // Note [needed unit first]
      prefetch(backwardOrder);
    }
  }

  /** Rethrows a hook failure, reduces what is left, and releases every non-persistent unit. */
  void afterBackward() {
    armed = false;
    releasePending();
    RuntimeException f = failure;
    failure = null;
    if (f != null) {
      throw f;
    }
    grads.finishBackward(ignoreUnused);
    endIteration();
  }

  /** Releases what forward or prefetch left gathered and makes this forward the trace to follow. */
  void endIteration() {
    for (UnitParams u : units) {
      if (!u.persistent()) {
        release(u);
      } else {
        for (var p : u.params()) {
          p.tensor().mutable_grad().reset();
        }
      }
    }
    if (store != null) {
      store.settle();
    }
    java.util.Arrays.fill(prefetched, false);
    java.util.Arrays.fill(keptForBackward, false);
    prefetchedNumel = 0;
    if (!trace.isEmpty()) {
      lastTrace = List.copyOf(trace);
    }
    trace.clear();
  }

  /** Gathers {@code u} now, outside forward and backward (whole-model access, persistence). */
  void gatherNow(UnitParams u) {
    ensureGathered(u);
  }

  /** Releases {@code u} unless it is persistent. */
  void releaseNow(UnitParams u) {
    if (!u.persistent()) {
      release(u);
    }
  }

  void close() {
    for (UnitParams u : units) {
      int[] handles = paramHookHandles.get(u.index());
      for (int i = 0; i < handles.length; i++) {
        u.params().get(i).tensor().remove_hook(handles[i]);
      }
    }
    paramHooks.clear();
    outputHooks.clear();
  }
}
