using System.Text;
using FluentAssertions;

namespace StampedeGuard.TestSupport.Http;

/// <summary>HttpClient and response helpers for tests on real Kestrel servers.</summary>
public static class HttpTestExtensions
{
    public static string CacheStatus(this HttpResponseMessage response) =>
        response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : string.Empty;

    public static string? Header(this HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values)
        : response.Content.Headers.TryGetValues(name, out var content) ? string.Join(", ", content) : null;

    public static async Task<HttpResponseMessage> GetAsync(this HttpClient client, string path, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value).Should().BeTrue(name);
        }

        return await client.SendAsync(request);
    }

    public static async Task<(HttpResponseMessage Response, string Body)> GetBodyAsync(this HttpClient client, string path)
    {
        var response = await client.GetAsync(path);
        return (response, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes (or fails at the end of the stream).</summary>
    public static async Task<string> ReadExactlyAsync(this Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        return Encoding.UTF8.GetString(buffer);
    }

    /// <summary>Polls a condition that some other party makes true (a metric, a background store), failing after 30 s.</summary>
    public static Task WaitUntilAsync(Func<bool> condition, string because) =>
        WaitUntilAsync(() => Task.FromResult(condition()), because);

    /// <summary>Polls an asynchronous condition, failing after 30 s.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string because)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            DateTime.UtcNow.Should().BeBefore(deadline, because);
            await Task.Delay(10);
        }
    }
}
