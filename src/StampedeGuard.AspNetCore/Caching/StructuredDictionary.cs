using System.Buffers;

namespace StampedeGuard.AspNetCore.Caching;

/// <summary>
/// A strict parser for RFC 8941 Structured Field dictionaries, as far as targeted cache-control fields (RFC 9213,
/// <c>CDN-Cache-Control</c>) need: keys, booleans, integers, decimals, strings, tokens, byte sequences, inner lists,
/// and parameters (parsed and dropped). Any syntax error fails the whole field (RFC 8941 4.2: the field is ignored).
/// </summary>
internal static class StructuredDictionary
{
    private static readonly SearchValues<char> Base64 = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");

    /// <summary>Parses the field lines (combined with commas); null when the field does not parse. A repeated key keeps its last value.</summary>
    public static Dictionary<string, StructuredItem>? TryParse(IEnumerable<string?> lines)
    {
        var text = string.Join(",", lines.Where(l => l is not null));
        var result = new Dictionary<string, StructuredItem>(StringComparer.Ordinal);
        var i = SkipSp(text, 0);
        if (i == text.Length)
        {
            return result; // an empty dictionary
        }

        while (true)
        {
            if (!TryKey(text, ref i, out var key))
            {
                return null;
            }

            StructuredItem item;
            if (i < text.Length && text[i] == '=')
            {
                i++;
                if (!TryMemberValue(text, ref i, out item))
                {
                    return null;
                }
            }
            else
            {
                item = StructuredItem.True;
            }

            if (!TrySkipParameters(text, ref i))
            {
                return null;
            }

            result[key] = item;
            i = SkipOws(text, i);
            if (i == text.Length)
            {
                return result;
            }

            if (text[i] != ',')
            {
                return null;
            }

            i = SkipOws(text, i + 1);
            if (i == text.Length)
            {
                return null; // trailing comma
            }
        }
    }

    private static bool TryMemberValue(string text, ref int i, out StructuredItem item)
    {
        if (i < text.Length && text[i] == '(')
        {
            i++;
            var strings = new List<string>();
            var allStrings = true;
            while (true)
            {
                i = SkipSp(text, i);
                if (i >= text.Length)
                {
                    item = default;
                    return false;
                }

                if (text[i] == ')')
                {
                    i++;
                    item = new StructuredItem(StructuredType.InnerList, 0, null, allStrings ? strings : null);
                    return true;
                }

                if (!TryBareItem(text, ref i, out var member) || !TrySkipParameters(text, ref i))
                {
                    item = default;
                    return false;
                }

                if (member.Type == StructuredType.String)
                {
                    strings.Add(member.Text!);
                }
                else
                {
                    allStrings = false;
                }

                if (i < text.Length && text[i] != ' ' && text[i] != ')')
                {
                    item = default;
                    return false;
                }
            }
        }

        return TryBareItem(text, ref i, out item);
    }

    private static bool TryBareItem(string text, ref int i, out StructuredItem item)
    {
        item = default;
        if (i >= text.Length)
        {
            return false;
        }

        var c = text[i];
        if (c == '-' || char.IsAsciiDigit(c))
        {
            return TryNumber(text, ref i, out item);
        }

        if (c == '"')
        {
            var sb = new System.Text.StringBuilder();
            for (i++; i < text.Length; i++)
            {
                c = text[i];
                if (c == '\\')
                {
                    if (++i >= text.Length || (text[i] != '"' && text[i] != '\\'))
                    {
                        return false;
                    }

                    sb.Append(text[i]);
                }
                else if (c == '"')
                {
                    i++;
                    item = new StructuredItem(StructuredType.String, 0, sb.ToString(), null);
                    return true;
                }
                else if (c is < ' ' or > '~')
                {
                    return false;
                }
                else
                {
                    sb.Append(c);
                }
            }

            return false;
        }

        if (c == '?')
        {
            if (i + 1 < text.Length && (text[i + 1] == '0' || text[i + 1] == '1'))
            {
                item = text[i + 1] == '1' ? StructuredItem.True : StructuredItem.False;
                i += 2;
                return true;
            }

            return false;
        }

        if (c == ':')
        {
            var end = text.IndexOf(':', i + 1);
            if (end < 0 || text.AsSpan(i + 1, end - i - 1).ContainsAnyExcept(Base64))
            {
                return false;
            }

            i = end + 1;
            item = new StructuredItem(StructuredType.Binary, 0, null, null);
            return true;
        }

        if (char.IsAsciiLetter(c) || c == '*')
        {
            var start = i;
            for (i++; i < text.Length && (IsTChar(text[i]) || text[i] == ':' || text[i] == '/'); i++)
            {
            }

            item = new StructuredItem(StructuredType.Token, 0, text[start..i], null);
            return true;
        }

        return false;
    }

    private static bool TryNumber(string text, ref int i, out StructuredItem item)
    {
        item = default;
        var negative = text[i] == '-';
        if (negative)
        {
            i++;
        }

        var start = i;
        long value = 0;
        var dot = -1;
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsAsciiDigit(c))
            {
                value = (value * 10) + (c - '0');
            }
            else if (c == '.' && dot < 0 && i > start)
            {
                dot = i;
            }
            else
            {
                break;
            }
        }

        var digits = i - start - (dot < 0 ? 0 : 1);
        if (digits == 0 || (dot < 0 && digits > 15) || (dot >= 0 && (dot - start > 12 || i - dot - 1 is < 1 or > 3)))
        {
            return false;
        }

        item = new StructuredItem(dot < 0 ? StructuredType.Integer : StructuredType.Decimal, negative ? -value : value, null, null);
        return true;
    }

    private static bool TryKey(string text, ref int i, out string key)
    {
        key = string.Empty;
        if (i >= text.Length || !(char.IsAsciiLetterLower(text[i]) || text[i] == '*'))
        {
            return false;
        }

        var start = i;
        for (i++; i < text.Length && (char.IsAsciiLetterLower(text[i]) || char.IsAsciiDigit(text[i]) || text[i] is '_' or '-' or '.' or '*'); i++)
        {
        }

        key = text[start..i];
        return true;
    }

    private static bool TrySkipParameters(string text, ref int i)
    {
        while (i < text.Length && text[i] == ';')
        {
            i = SkipSp(text, i + 1);
            if (!TryKey(text, ref i, out _))
            {
                return false;
            }

            if (i < text.Length && text[i] == '=')
            {
                i++;
                if (!TryBareItem(text, ref i, out _))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private static bool IsTChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';

    private static int SkipSp(string text, int i)
    {
        while (i < text.Length && text[i] == ' ')
        {
            i++;
        }

        return i;
    }

    private static int SkipOws(string text, int i)
    {
        while (i < text.Length && (text[i] == ' ' || text[i] == '\t'))
        {
            i++;
        }

        return i;
    }
}
