package org.zero4j.benchmarks;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.kernels.adam.FlatState;
import org.zero4j.kernels.adam.FlatView;

/**
 * One Adam step over n fp32 parameters, in the same run: zero4j's fused kernel ({@link CpuAdam}),
 * libtorch's {@code torch::optim::Adam}, a plain Java loop over float arrays, and two bandwidth
 * probes that move the same 28 bytes per parameter as the Adam step: a STREAM triad ({@code a = b +
 * s*c}, libtorch {@code add_out}, 28 bytes by STREAM's count, which leaves out the read that
 * write-allocate adds for {@code a}) and an in-place probe with Adam's own access pattern (read
 * four arrays, write three back). All use the same thread count.
 *
 * <p>Run all sizes (1M, 16M, 64M) and thread counts (1, 2), about five minutes:
 *
 * <pre>
 * mvn -B -o -q -pl benchmarks -am package -DskipTests
 * java -cp "$(cat benchmarks/target/classpath.txt)" org.zero4j.benchmarks.AdamBench
 * </pre>
 *
 * <p>Add {@code --short} for 16M params and 2 threads only, ending with the one-line summary.
 * {@link AdamBenchReport} turns the JMH results into G params/s and ratios.
 */
// Note [huge pages]: the Java baselines stream 1 GiB heap arrays at 64M params; on 4 KiB pages the
// hardware prefetchers stop at every page boundary and the Java loop and probe ran at a third of
// their speed. Transparent huge pages for the heap (THP is in madvise mode here) remove that
// handicap; the native buffers are unaffected by the flag.
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(
    value = 1,
    jvmArgsAppend = {"-Xmx6g", "-XX:+UseParallelGC", "-XX:+UseTransparentHugePages"})
public class AdamBench {
  /** Same math in all three optimizers: Adam, L2 weight decay, bias correction. */
  static final AdamHyperparams HP = new AdamHyperparams(1e-3, 0.9, 0.999, 1e-8, 0.01, false, true);

  /** The size and thread count of one run. */
  @State(Scope.Benchmark)
  public abstract static class Shape {
    @Param({"1048576", "16777216", "67108864"})
    public int params;

    @Param({"1", "2"})
    public int threads;
  }

  /** zero4j's kernel on libtorch-allocated fp32 buffers. */
  public static class KernelState extends Shape {
    Tensor param;
    Tensor expAvg;
    Tensor expAvgSq;
    Tensor grad;
    FlatState state;
    FlatView gradView;
    CpuAdam kernel;
    long step;

    @Setup(Level.Trial)
    public void setUp() {
      param = torch.randn(params);
      expAvg = torch.zeros(params);
      expAvgSq = torch.zeros(params);
      grad = torch.randn(params);
      state = FlatState.of(param, expAvg, expAvgSq);
      gradView = FlatView.of(grad);
      kernel = new CpuAdam(threads);
    }
  }

  /** libtorch's optimizer, its intra-op pool set to the thread count. */
  public static class LibtorchState extends Shape {
    Tensor param;
    Adam adam;

    @Setup(Level.Trial)
    public void setUp() {
      torch.set_num_threads(threads);
      param = torch.randn(params);
      param.mutable_grad().put(torch.randn(params));
      AdamOptions options = new AdamOptions(HP.lr());
      options.weight_decay().put(HP.weightDecay());
      options.eps().put(HP.eps());
      adam = new Adam(new TensorVector(param), options);
    }
  }

  /** Plain Java arrays, split into one contiguous range per thread. */
  public static class JavaState extends Shape {
    float[] param;
    float[] expAvg;
    float[] expAvgSq;
    float[] grad;
    ExecutorService pool;
    long step;

    @Setup(Level.Trial)
    public void setUp() {
      param = new float[params];
      expAvg = new float[params];
      expAvgSq = new float[params];
      grad = new float[params];
      long x = 88172645463325252L;
      for (int i = 0; i < params; i++) {
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
        param[i] = (x & 0xffff) / 65536f - 0.5f;
        grad[i] = ((x >>> 16) & 0xffff) / 65536f - 0.5f;
      }
      pool = Executors.newFixedThreadPool(threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      pool.shutdownNow();
    }
  }

  /** Three libtorch buffers of 7n/3 floats: a STREAM triad over them counts 28n bytes. */
  public static class TriadState extends Shape {
    Tensor a;
    Tensor b;
    Tensor c;
    Scalar s;

    @Setup(Level.Trial)
    public void setUp() {
      torch.set_num_threads(threads);
      long len = triadLength(params);
      a = torch.zeros(len);
      b = torch.randn(len);
      c = torch.randn(len);
      s = new Scalar(3.0);
    }
  }

  @Benchmark
  public double zero4j(KernelState st) {
    return st.kernel.step(st.state, st.gradView, HP, ++st.step, 1.0).sumOfSquares();
  }

  @Benchmark
  public void libtorch(LibtorchState st) {
    st.adam.step();
  }

  @Benchmark
  public void javaLoop(JavaState st) throws Exception {
    long t = ++st.step;
    float b1 = (float) HP.beta1();
    float b2 = (float) HP.beta2();
    float stepSize = (float) (-HP.lr() / (1 - Math.pow(HP.beta1(), t)));
    float bias2 = (float) (1 / Math.sqrt(1 - Math.pow(HP.beta2(), t)));
    float eps = (float) HP.eps();
    float wd = (float) HP.weightDecay();
    inParallel(
        st,
        (begin, end) -> {
          float[] p = st.param;
          float[] m = st.expAvg;
          float[] v = st.expAvgSq;
          float[] gr = st.grad;
          for (int i = begin; i < end; i++) {
            float g = gr[i] + wd * p[i];
            float mi = b1 * m[i] + (1 - b1) * g;
            float vi = b2 * v[i] + (1 - b2) * g * g;
            m[i] = mi;
            v[i] = vi;
            p[i] += stepSize * mi / ((float) Math.sqrt(vi) * bias2 + eps);
          }
        });
  }

  /**
   * A bandwidth probe with Adam's access pattern and no arithmetic to speak of: one pass that reads
   * four float arrays and writes three of them back in place, 28 bytes per parameter.
   */
  @Benchmark
  public void inPlaceProbe(JavaState st) throws Exception {
    inParallel(
        st,
        (begin, end) -> {
          float[] p = st.param;
          float[] m = st.expAvg;
          float[] v = st.expAvgSq;
          float[] g = st.grad;
          for (int i = begin; i < end; i++) {
            float gi = g[i] * 1e-9f;
            p[i] += gi;
            m[i] += gi;
            v[i] += gi;
          }
        });
  }

  /** A loop over the element range {@code [begin, end)}. */
  private interface RangeBody {
    void run(int begin, int end);
  }

  /** Splits the arrays into one contiguous range per thread of the pool and waits for all. */
  private static void inParallel(JavaState st, RangeBody body) throws Exception {
    Future<?>[] parts = new Future<?>[st.threads];
    for (int k = 0; k < st.threads; k++) {
      int begin = (int) ((long) st.params * k / st.threads);
      int end = (int) ((long) st.params * (k + 1) / st.threads);
      parts[k] = st.pool.submit(() -> body.run(begin, end));
    }
    for (Future<?> f : parts) {
      f.get();
    }
  }

  @Benchmark
  public void triad(TriadState st) {
    torch.add_out(st.a, st.b, st.c, st.s);
  }

  /** Elements per triad buffer: 3 buffers x 4 bytes x len = 28 bytes x params. */
  static long triadLength(long params) {
    return (7 * params + 2) / 3;
  }

  public static void main(String[] args) throws Exception {
    AdamBenchReport.run(args);
  }
}
