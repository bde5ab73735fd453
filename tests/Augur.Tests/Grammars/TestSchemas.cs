namespace Augur.Tests.Grammars;

/// <summary>
/// Twenty varied schemas: nested objects, arrays, enums, numbers and integer ranges, optional fields, formats,
/// anyOf, const, $ref (recursive too). Free-text strings and lists carry maxLength / maxItems so that
/// stories260K, which knows no JSON, reaches the end within the token budget: only the grammar shapes it.
/// </summary>
static class TestSchemas
{
    public static readonly string[] All =
    [
        """{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":0,"maximum":120}},"required":["name","age"],"additionalProperties":false}""",
        """{"type":"object","properties":{"color":{"enum":["red","green","blue"]},"shade":{"type":"integer","minimum":-5,"maximum":5}},"required":["color"]}""",
        """{"type":"array","items":{"type":"integer","minimum":10,"maximum":999},"minItems":1,"maxItems":4}""",
        """{"type":"object","properties":{"point":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"],"additionalProperties":false},"label":{"type":"string","maxLength":8}},"required":["point"],"additionalProperties":false}""",
        """{"type":"object","properties":{"ok":{"type":"boolean"},"error":{"type":["string","null"],"maxLength":10}},"required":["ok","error"]}""",
        """{"enum":["yes","no",42,null,true]}""",
        """{"type":"object","properties":{"id":{"type":"string","format":"uuid"},"created":{"type":"string","format":"date-time"}},"required":["id","created"]}""",
        """{"type":"object","properties":{"day":{"type":"string","format":"date"},"at":{"type":"string","format":"time"}},"required":["day"]}""",
        """{"$defs":{"tag":{"type":"string","enum":["a","b","c"]}},"type":"object","properties":{"tags":{"type":"array","items":{"$ref":"#/$defs/tag"},"maxItems":3}},"required":["tags"]}""",
        """{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer","minimum":0,"maximum":9},"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"],"additionalProperties":false}},"$ref":"#/$defs/node"}""",
        """{"anyOf":[{"type":"integer","minimum":1,"maximum":3},{"type":"string","maxLength":4},{"type":"boolean"}]}""",
        """{"type":"object","properties":{"kind":{"const":"circle"},"radius":{"type":"number","minimum":0}},"required":["kind","radius"]}""",
        """{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}}}""",
        """{"type":"object","properties":{"matrix":{"type":"array","items":{"type":"array","items":{"type":"integer","minimum":0,"maximum":1},"minItems":2,"maxItems":2},"minItems":2,"maxItems":2}},"required":["matrix"]}""",
        """{"type":"object","properties":{"title":{"type":"string","minLength":2,"maxLength":6},"pages":{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":1000},"rating":{"enum":[1,2,3,4,5]}},"required":["title","pages","rating"]}""",
        """{"type":"array","items":{"type":"object","properties":{"k":{"type":"string","maxLength":3},"v":{"type":"boolean"}},"required":["k","v"],"additionalProperties":false},"maxItems":3}""",
        """{"type":"object","properties":{"status":{"enum":["active","inactive"]},"meta":{"type":"object","properties":{"count":{"type":"integer","minimum":100,"maximum":250},"note":{"type":"string","maxLength":5}},"required":["count"]}},"required":["status","meta"]}""",
        """{"type":"integer","minimum":-1000,"maximum":-20}""",
        """{"$defs":{"person":{"type":"object","properties":{"name":{"type":"string","maxLength":6},"role":{"enum":["admin","user"]}},"required":["name","role"],"additionalProperties":false}},"type":"object","properties":{"owner":{"$ref":"#/$defs/person"},"members":{"type":"array","items":{"$ref":"#/$defs/person"},"maxItems":2}},"required":["owner","members"]}""",
        """{"type":"object","properties":{"empty":{"type":"array","maxItems":0},"nothing":{"type":"null"},"flag":{"type":"boolean"},"opt":{"type":"string","maxLength":3}},"required":["empty","nothing"]}""",
    ];
}
