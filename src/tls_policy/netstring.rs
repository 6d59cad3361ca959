//! Netstrings (`<length>:<bytes>,`), the framing of Postfix's socketmap protocol
//! (socketmap_table(5)). Hand-written: a dozen lines, and the crates that offer it
//! are unmaintained or synchronous.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a netstring could not be read. Every error ends the connection: after a
/// framing error the stream position is unknown.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetstringError {
    #[error("connection closed")]
    Closed,
    #[error("bad netstring length")]
    BadLength,
    #[error("netstring of {0} bytes is over the limit")]
    TooLong(usize),
    #[error("netstring not terminated by a comma")]
    NoComma,
    #[error("read error: {0}")]
    Io(String),
}

/// Reads one netstring of at most `max` bytes (pass a buffered reader: the length is
/// read a byte at a time).
pub async fn read<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<Vec<u8>, NetstringError> {
    let io = |e: std::io::Error| NetstringError::Io(e.to_string());
    let mut len: usize = 0;
    let mut digits = 0;
    loop {
        let mut byte = [0u8; 1];
        if r.read(&mut byte).await.map_err(io)? == 0 {
            return Err(if digits == 0 {
                NetstringError::Closed
            } else {
                NetstringError::BadLength
            });
        }
        match byte[0] {
            b @ b'0'..=b'9' if digits < 10 => {
                len = len * 10 + usize::from(b - b'0');
                digits += 1;
            }
            b':' if digits > 0 => break,
            _ => return Err(NetstringError::BadLength),
        }
    }
    if len > max {
        return Err(NetstringError::TooLong(len));
    }
    let mut data = vec![0u8; len];
    r.read_exact(&mut data).await.map_err(io)?;
    let mut comma = [0u8; 1];
    r.read_exact(&mut comma).await.map_err(io)?;
    if comma[0] != b',' {
        return Err(NetstringError::NoComma);
    }
    Ok(data)
}

/// Writes `data` as one netstring and flushes.
pub async fn write<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> std::io::Result<()> {
    let mut out = format!("{}:", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.push(b',');
    w.write_all(&out).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8]) -> Vec<Result<Vec<u8>, NetstringError>> {
        let mut r = tokio::io::BufReader::new(input);
        let mut out = Vec::new();
        loop {
            let item = read(&mut r, 16).await;
            let stop = item.is_err();
            out.push(item);
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn reads_consecutive_netstrings() {
        let got = read_all(b"7:sge a.b,0:,").await;
        assert_eq!(got[0], Ok(b"sge a.b".to_vec()));
        assert_eq!(got[1], Ok(Vec::new()));
        assert_eq!(got[2], Err(NetstringError::Closed));
    }

    #[tokio::test]
    async fn rejects_bad_framing() {
        assert_eq!(read_all(b"x:").await[0], Err(NetstringError::BadLength));
        assert_eq!(read_all(b":a,").await[0], Err(NetstringError::BadLength));
        assert_eq!(read_all(b"3:abc;").await[0], Err(NetstringError::NoComma));
        assert_eq!(read_all(b"99:").await[0], Err(NetstringError::TooLong(99)));
        assert_eq!(
            read_all(b"99999999999:").await[0],
            Err(NetstringError::BadLength)
        );
        assert!(matches!(
            read_all(b"5:ab").await[0],
            Err(NetstringError::Io(_))
        ));
    }

    #[tokio::test]
    async fn writes_netstring() {
        let mut out = Vec::new();
        write(&mut out, b"OK may").await.unwrap();
        assert_eq!(out, b"6:OK may,");
    }
}
