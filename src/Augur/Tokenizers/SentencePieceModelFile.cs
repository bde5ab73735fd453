namespace Augur.Tokenizers;

/// <summary>
/// Reads the fields Augur needs from a SentencePiece <c>ModelProto</c>. Written by hand: it is a few
/// protobuf fields, and a protobuf package plus generated code would be far more than the job.
/// </summary>
static class SentencePieceModelFile
{
    public static Vocabulary Read(string path, byte[] data)
    {
        var tokens = new List<string>();
        var scores = new List<float>();
        var types = new List<TokenType>();
        int unk = 0, bos = 1, eos = 2;
        bool addDummyPrefix = true;
        try
        {
            var r = new ProtoReader(data, 0, data.Length);
            while (r.More)
            {
                var (field, wire) = r.Tag();
                if (field == 1 && wire == 2)
                {
                    var p = r.Sub();
                    string piece = ""; float score = 0; var type = TokenType.Normal;
                    while (p.More)
                    {
                        var (f, w) = p.Tag();
                        if (f == 1 && w == 2) piece = p.String();
                        else if (f == 2 && w == 5) score = p.Fixed32Float();
                        else if (f == 3 && w == 0) type = (TokenType)p.Varint();
                        else p.Skip(w);
                    }
                    tokens.Add(piece); scores.Add(score); types.Add(type);
                }
                else if (field == 2 && wire == 2)
                {
                    var t = r.Sub();
                    while (t.More)
                    {
                        var (f, w) = t.Tag();
                        if (w == 0 && f is 40 or 41 or 42)
                        {
                            int v = (int)t.Varint();
                            if (f == 40) unk = v; else if (f == 41) bos = v; else eos = v;
                        }
                        else t.Skip(w);
                    }
                }
                else if (field == 3 && wire == 2)
                {
                    var n = r.Sub();
                    while (n.More)
                    {
                        var (f, w) = n.Tag();
                        if (f == 3 && w == 0) addDummyPrefix = n.Varint() != 0;
                        else n.Skip(w);
                    }
                }
                else r.Skip(wire);
            }
        }
        catch (IndexOutOfRangeException e) { throw new ModelFormatException($"{path}: truncated or malformed SentencePiece model", e); }
        if (tokens.Count == 0) throw new ModelFormatException($"{path}: SentencePiece model has no pieces");
        return new Vocabulary([.. tokens], [.. scores], [.. types], bos, eos, unk,
            AddBos: true, AddEos: false, AddSpacePrefix: addDummyPrefix);
    }

    struct ProtoReader(byte[] data, int pos, int end)
    {
        int _pos = pos;
        public readonly bool More => _pos < end;

        public (int Field, int Wire) Tag()
        {
            ulong t = Varint();
            return ((int)(t >> 3), (int)(t & 7));
        }

        public ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; ; shift += 7)
            {
                if (_pos >= end || shift > 63) throw new IndexOutOfRangeException();
                byte b = data[_pos++];
                v |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80) return v;
            }
        }

        public float Fixed32Float()
        {
            if (_pos + 4 > end) throw new IndexOutOfRangeException();
            float f = BitConverter.ToSingle(data, _pos);
            _pos += 4;
            return f;
        }

        int Length()
        {
            ulong len = Varint();
            if (len > (ulong)(end - _pos)) throw new IndexOutOfRangeException();
            return (int)len;
        }

        public string String()
        {
            int len = Length();
            string s = System.Text.Encoding.UTF8.GetString(data, _pos, len);
            _pos += len;
            return s;
        }

        public ProtoReader Sub()
        {
            int len = Length();
            var sub = new ProtoReader(data, _pos, _pos + len);
            _pos += len;
            return sub;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _pos += 8; break;
                case 2: { int len = Length(); _pos += len; break; }
                case 5: _pos += 4; break;
                default: throw new IndexOutOfRangeException();
            }
            if (_pos > end) throw new IndexOutOfRangeException();
        }
    }
}
