using System.Globalization;
using System.Security;
using System.Text;

namespace StampedeGuard.Stampede;

/// <summary>Just enough SVG for two charts: lines, polylines, dots, rectangles and text.</summary>
internal sealed class SvgWriter(int width, int height)
{
    private readonly StringBuilder _body = new();

    public void Rect(double x, double y, double w, double h, string fill, string stroke = "none") =>
        Append($"<rect x=\"{x:0.#}\" y=\"{y:0.#}\" width=\"{w:0.#}\" height=\"{h:0.#}\" fill=\"{fill}\" stroke=\"{stroke}\"/>");

    public void Line(double x1, double y1, double x2, double y2, string stroke, double strokeWidth = 1, string? dash = null) =>
        Append($"<line x1=\"{x1:0.#}\" y1=\"{y1:0.#}\" x2=\"{x2:0.#}\" y2=\"{y2:0.#}\" stroke=\"{stroke}\" stroke-width=\"{strokeWidth:0.#}\"{(dash is null ? "" : $" stroke-dasharray=\"{dash}\"")}/>");

    public void Polyline(IEnumerable<(double X, double Y)> points, string stroke, double strokeWidth = 1.5)
    {
        var coordinates = string.Join(' ', points.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.X:0.#},{p.Y:0.#}")));
        Append($"<polyline points=\"{coordinates}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{strokeWidth:0.#}\"/>");
    }

    /// <summary>Many small dots as one path (far smaller than one element per dot).</summary>
    public void Dots(IEnumerable<(double X, double Y)> points, string fill, double size = 3)
    {
        var path = new StringBuilder();
        foreach (var (x, y) in points)
        {
            path.Append(CultureInfo.InvariantCulture, $"M{x:0.#} {y:0.#}h{size:0.#}v{size:0.#}h-{size:0.#}z");
        }

        Append($"<path d=\"{path}\" fill=\"{fill}\" fill-opacity=\"0.75\"/>");
    }

    public void Text(double x, double y, string text, int size = 12, string anchor = "start", string weight = "normal") =>
        Append($"<text x=\"{x:0.#}\" y=\"{y:0.#}\" font-size=\"{size}\" text-anchor=\"{anchor}\" font-weight=\"{weight}\">{SecurityElement.Escape(text)}</text>");

    public override string ToString() =>
        $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\">\n{_body}</svg>\n";

    private void Append(FormattableString element) => _body.Append(element.ToString(CultureInfo.InvariantCulture)).Append('\n');
}
