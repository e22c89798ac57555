//! Chat templates: the Jinja template a GGUF carries (`tokenizer.chat_template`),
//! rendered with minijinja the way Hugging Face's `apply_chat_template` does —
//! `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, and a
//! `raise_exception` function.

use minijinja::{context, Environment, Error, ErrorKind};

pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

impl ChatTemplate {
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<ChatTemplate, String> {
        let mut env = Environment::new();
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| format!("the template does not parse: {e}"))?;
        Ok(ChatTemplate {
            env,
            bos: bos.to_string(),
            eos: eos.to_string(),
        })
    }

    /// A template from a Jinja file (for backends whose model carries none); no
    /// BOS or EOS text is known, so both are empty.
    pub fn from_file(path: &std::path::Path) -> Result<ChatTemplate, super::BackendError> {
        let source = std::fs::read_to_string(path).map_err(|e| super::BackendError::io(path, e))?;
        ChatTemplate::new(&source, "", "").map_err(|message| super::BackendError::ChatTemplate {
            file: path.to_path_buf(),
            message,
        })
    }

    /// One user message, followed by the assistant's turn marker.
    pub fn user_turn(&self, user: &str) -> Result<String, String> {
        let template = self.env.get_template("chat").map_err(|e| e.to_string())?;
        template
            .render(context! {
                messages => vec![context! { role => "user", content => user }],
                add_generation_prompt => true,
                bos_token => &self.bos,
                eos_token => &self.eos,
            })
            .map_err(|e| format!("rendering failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_chatml_template() {
        let source = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nBe helpful<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        let t = ChatTemplate::new(source, "<s>", "</s>").unwrap();
        assert_eq!(
            t.user_turn("Hi <b>").unwrap(),
            "<|im_start|>system\nBe helpful<|im_end|>\n<|im_start|>user\nHi <b><|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn broken_template_is_an_error() {
        assert!(ChatTemplate::new("{% for %}", "", "").is_err());
        let t = ChatTemplate::new("{{ raise_exception('no system role') }}", "", "").unwrap();
        assert!(t.user_turn("x").unwrap_err().contains("no system role"));
    }
}
