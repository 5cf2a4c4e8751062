using System.Text;
using FluentAssertions;
using StampedeGuard.AspNetCore.Internal;
using Xunit;

namespace StampedeGuard.AspNetCore.Tests;

public sealed class SharedResponseBufferTests
{
    [Fact]
    public async Task Readers_EachReadTheWholeBodyAtTheirOwnPace()
    {
        var buffer = new SharedResponseBuffer(1024 * 1024);
        var fast = buffer.Attach()!;
        var slow = buffer.Attach()!;
        await buffer.AppendAsync(Encoding.UTF8.GetBytes("hello "), default);
        (await ReadAllAvailableAsync(buffer, fast)).Should().Be("hello ");
        await buffer.AppendAsync(Encoding.UTF8.GetBytes("world"), default);
        buffer.Complete(null);
        (await ReadToEndAsync(buffer, fast)).Should().Be("world");
        (await ReadToEndAsync(buffer, slow)).Should().Be("hello world");
        buffer.ToArray().Should().Equal(Encoding.UTF8.GetBytes("hello world"));
    }

    [Fact]
    public async Task Append_WhenNotStoredAndSlowestReaderAWindowBehind_WaitsInsteadOfGrowing()
    {
        var buffer = new SharedResponseBuffer(64 * 1024);
        var slow = buffer.Attach()!;
        buffer.AllowTrimming();
        var chunk = new byte[16 * 1024];
        for (var i = 0; i < 4; i++)
        {
            await buffer.AppendAsync(chunk, default);
        }

        var blocked = buffer.AppendAsync(chunk, default).AsTask();
        blocked.IsCompleted.Should().BeFalse(); // 80 KiB would be buffered for the slow reader: the producer waits
        var read = await buffer.ReadAsync(slow, default);
        buffer.Advance(slow, read.Data.Length);
        await blocked.WaitAsync(TimeSpan.FromSeconds(5));
        buffer.IsTrimmed.Should().BeTrue();
        buffer.Attach().Should().BeNull(); // the start is gone: a newcomer cannot be served from here
    }

    [Fact]
    public async Task Detach_OfTheSlowReader_ReleasesTheProducer()
    {
        var buffer = new SharedResponseBuffer(16 * 1024);
        var slow = buffer.Attach()!;
        buffer.AllowTrimming();
        await buffer.AppendAsync(new byte[16 * 1024], default);
        var blocked = buffer.AppendAsync(new byte[16 * 1024], default).AsTask();
        blocked.IsCompleted.Should().BeFalse();
        buffer.Detach(slow);
        await blocked.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Complete_WithFault_ReadersSeeTheFault()
    {
        var buffer = new SharedResponseBuffer(1024);
        var reader = buffer.Attach()!;
        buffer.Complete(new IOException("broken"));
        var read = await buffer.ReadAsync(reader, default);
        read.Fault.Should().BeOfType<IOException>();
        read.IsEnd.Should().BeFalse();
        buffer.ToArray().Should().BeNull();
    }

    [Fact]
    public async Task Read_CancelledByTheReader_AffectsNobodyElse()
    {
        var buffer = new SharedResponseBuffer(1024);
        var a = buffer.Attach()!;
        var b = buffer.Attach()!;
        using var cts = new CancellationTokenSource();
        var waitA = buffer.ReadAsync(a, cts.Token).AsTask();
        var waitB = buffer.ReadAsync(b, default).AsTask();
        cts.Cancel();
        await FluentActions.Awaiting(() => waitA).Should().ThrowAsync<OperationCanceledException>();
        await buffer.AppendAsync(new byte[] { 1 }, default);
        (await waitB).Data.Length.Should().Be(1);
    }

    private static async Task<string> ReadAllAvailableAsync(SharedResponseBuffer buffer, BufferReader reader)
    {
        var read = await buffer.ReadAsync(reader, default);
        buffer.Advance(reader, read.Data.Length);
        return Encoding.UTF8.GetString(read.Data.Span);
    }

    private static async Task<string> ReadToEndAsync(SharedResponseBuffer buffer, BufferReader reader)
    {
        var sb = new StringBuilder();
        while (true)
        {
            var read = await buffer.ReadAsync(reader, default);
            if (read.Data.IsEmpty)
            {
                return sb.ToString();
            }

            sb.Append(Encoding.UTF8.GetString(read.Data.Span));
            buffer.Advance(reader, read.Data.Length);
        }
    }
}
