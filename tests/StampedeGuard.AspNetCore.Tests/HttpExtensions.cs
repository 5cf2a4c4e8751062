namespace StampedeGuard.AspNetCore.Tests;

public static class HttpExtensions
{
    public static string CacheStatus(this HttpResponseMessage response) =>
        response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : string.Empty;

    public static string? Header(this HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values)
        : response.Content.Headers.TryGetValues(name, out var content) ? string.Join(", ", content) : null;

    public static async Task<HttpResponseMessage> SendAsync(this HttpClient client, HttpMethod method, string path, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(method, path);
        foreach (var (name, value) in headers)
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                throw new InvalidOperationException(name);
            }
        }

        return await client.SendAsync(request);
    }

    public static Task<HttpResponseMessage> GetAsync(this HttpClient client, string path, params (string Name, string Value)[] headers) =>
        client.SendAsync(HttpMethod.Get, path, headers);

    /// <summary>
    /// Requests <paramref name="path"/> until the answer is a hit (at most <paramref name="attempts"/> times): a
    /// response's store ends after its clients have their body, so a request right after one may still join the
    /// execution instead of hitting what it stores. The caller asserts the origin was not asked again meanwhile.
    /// </summary>
    public static async Task<(HttpResponseMessage Response, string Body)> GetUntilHitAsync(this HttpClient client, string path, int attempts = 1000)
    {
        var answer = await client.GetBodyAsync(path);
        for (var i = 1; i < attempts && !answer.Response.CacheStatus().Contains("hit", StringComparison.Ordinal); i++)
        {
            answer = await client.GetBodyAsync(path);
        }

        return answer;
    }

    public static async Task<(HttpResponseMessage Response, string Body)> GetBodyAsync(this HttpClient client, string path, params (string Name, string Value)[] headers)
    {
        var response = await client.GetAsync(path, headers);
        return (response, await response.Content.ReadAsStringAsync());
    }
}
